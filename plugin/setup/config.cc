#include "plugin/setup/config.h"

#include <filesystem>
#include <tuple>

#include "fhir/resource_id.h"
#include "plugin/setup/yaml_util.h"

#ifndef SDOH_SOURCE_DIR
#define SDOH_SOURCE_DIR "."
#endif

namespace sdoh {

using namespace std::string_literals;

namespace fs = std::filesystem;
using fhir::Result;
using fhir::Status;

bool IsServerSource(const std::string& source) {
  return source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0;
}

std::string DefaultConfigPath() {
  std::error_code ec;
  if (fs::exists("config/sdoh-bridge.yaml", ec)) return "config/sdoh-bridge.yaml";
  return std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml";
}

namespace {

std::string Resolve(const fs::path& base, const std::string& p) {
  if (p.empty()) return p;
  if (p.find("://") != std::string::npos) return p;  // a URL
  fs::path path(p);
  if (path.is_absolute()) return p;
  return (base / path).lexically_normal().string();
}

Result<size_t> SizeValue(const std::string& file, const YAML::Node& n, const std::string& key,
                         size_t fallback) {
  if (!n || !n[key]) return fallback;
  try {
    long long v = n[key].as<long long>();
    if (v <= 0) {
      return Status::InvalidArgument(Where(file, n[key]) + ": '" + key + "' must be positive");
    }
    return static_cast<size_t>(v);
  } catch (const YAML::Exception&) {
    return Status::InvalidArgument(Where(file, n[key]) + ": '" + key + "' must be an integer");
  }
}

// `source_aliases` and `screening:` (issue 13 #7, #8).
Status LoadInputKeys(const std::string& file, const YAML::Node& n, Config* c) {
  auto aliases = StringList(file, n, "source_aliases", false);
  if (!aliases.ok()) return aliases.status();
  for (const std::string& a : *aliases) {
    if (!IsServerSource(fhir::NormalizeBase(a))) {
      return Status::InvalidArgument(Where(file, n["source_aliases"]) + ": source alias '" + a +
                                     "' is not an http(s) base URL");
    }
  }
  c->source_aliases = std::move(*aliases);
  YAML::Node s = n["screening"];
  if (!s) return Status::Ok();
  if (!s.IsMap()) {
    return Status::InvalidArgument(Where(file, s) + ": 'screening' must be a mapping");
  }
  if (Status st = CheckKeys(file, s, {"future_skew_hours", "max_age_days"}, "screening"); !st.ok())
    return st;
  if (YAML::Node h = s["future_skew_hours"]) {
    long long v = -1;
    try {
      v = h.as<long long>();
    } catch (const YAML::Exception&) {
    }
    if (v < 0 || v > 24 * 366) {
      return Status::InvalidArgument(Where(file, h) +
                                     ": 'future_skew_hours' must be an integer from 0 to 8784");
    }
    c->future_skew_hours = static_cast<int>(v);
  }
  return Status::Ok();
}

}  // namespace

int TaskPriorityRank(const std::string& priority) {
  static const char* const kOrder[] = {"routine", "urgent", "asap", "stat"};
  for (int i = 0; i < 4; ++i) {
    if (priority == kOrder[i]) return i;
  }
  return -1;
}
bool IsTaskPriority(const std::string& priority) { return TaskPriorityRank(priority) >= 0; }

namespace {

// source, out, mappings, rules (resolved against the config's folder) and time_zone.
Status LoadPaths(const std::string& path, const YAML::Node& n, const fs::path& base, Config* c) {
  auto source = RequiredString(path, n, "source");
  if (!source.ok()) return source.status();
  c->source = Resolve(base, *source);
  auto out = RequiredString(path, n, "out");
  if (!out.ok()) return out.status();
  c->out = Resolve(base, *out);
  auto mappings = RequiredString(path, n, "mappings");
  if (!mappings.ok()) return mappings.status();
  c->mappings = Resolve(base, *mappings);
  auto rules = StringList(path, n, "rules", true);
  if (!rules.ok()) return rules.status();
  for (const auto& r : *rules) c->rules.push_back(Resolve(base, r));
  auto tz = OptionalString(path, n, "time_zone", "UTC");
  if (!tz.ok()) return tz.status();
  auto parsed_tz = fhir::TimeZone::Parse(*tz);
  if (!parsed_tz.ok()) {
    return Status::InvalidArgument(Where(path, n["time_zone"]) + ": " +
                                   parsed_tz.status().message());
  }
  c->time_zone_name = *tz;
  c->time_zone = *parsed_tz;
  return Status::Ok();
}

// `limits:` max_line_bytes, max_depth.
Status LoadLimits(const std::string& path, const YAML::Node& n, Config* c) {
  YAML::Node limits = n["limits"];
  if (!limits) return Status::Ok();
  if (Status s = CheckKeys(path, limits, {"max_line_bytes", "max_depth"}, "limits"); !s.ok()) {
    return s;
  }
  auto ml = SizeValue(path, limits, "max_line_bytes", c->max_line_bytes);
  if (!ml.ok()) return ml.status();
  c->max_line_bytes = *ml;
  auto md = SizeValue(path, limits, "max_depth", c->max_depth);
  if (!md.ok()) return md.status();
  c->max_depth = *md;
  return Status::Ok();
}

// `threads:` (issue 17).
Status LoadThreads(const std::string& path, const YAML::Node& n, Config* c) {
  auto threads = SizeValue(path, n, "threads", c->threads);
  if (!threads.ok()) return threads.status();
  if (*threads > kMaxThreads) {
    return Status::InvalidArgument(Where(path, n["threads"]) + ": 'threads' must be 1 to " +
                                   std::to_string(kMaxThreads));
  }
  c->threads = *threads;
  return Status::Ok();
}

// `forms:` infer.
Status LoadForms(const std::string& path, const YAML::Node& n, Config* c) {
  YAML::Node forms = n["forms"];
  if (!forms) return Status::Ok();
  if (Status s = CheckKeys(path, forms, {"infer"}, "forms"); !s.ok()) return s;
  if (forms["infer"]) {
    try {
      c->infer_forms = forms["infer"].as<bool>();
    } catch (const YAML::Exception&) {
      return Status::InvalidArgument(Where(path, forms["infer"]) +
                                     ": 'infer' must be true or false");
    }
  }
  return Status::Ok();
}

// `writeback:` paths (resolved against the config's folder), withdrawn_rulesets, integer keys.
Status LoadWriteback(const std::string& path, const YAML::Node& n, const fs::path& base,
                     Config* c) {
  YAML::Node wb = n["writeback"];
  if (!wb) return Status::Ok();
  if (Status s = CheckKeys(
          path, wb,
          {"ledger", "batch_size", "suppression_days", "audit_log", "audit_retention_days",
           "sync_overlap_seconds", "lock_wait_seconds", "withdrawn_rulesets",
           "max_new_referrals_per_pass", "declined_days", "declined_lifted_by_new_screening"},
          "writeback");
      !s.ok()) {
    return s;
  }
  WritebackConfig& w = c->writeback;
  auto ledger = OptionalString(path, wb, "ledger", "");
  if (!ledger.ok()) return ledger.status();
  w.ledger = Resolve(base, *ledger);
  auto audit = OptionalString(path, wb, "audit_log", "");
  if (!audit.ok()) return audit.status();
  w.audit_log = Resolve(base, *audit);
  auto withdrawn = StringList(path, wb, "withdrawn_rulesets", false);
  if (!withdrawn.ok()) return withdrawn.status();
  w.withdrawn_rulesets = std::move(*withdrawn);
  if (wb["declined_lifted_by_new_screening"]) {
    const YAML::Node& b = wb["declined_lifted_by_new_screening"];
    if (!b.IsScalar() || (b.Scalar() != "true" && b.Scalar() != "false")) {
      return Status::InvalidArgument(Where(path, b) +
                                     ": 'declined_lifted_by_new_screening' must be true or false");
    }
    w.declined_lifted_by_new_screening = b.Scalar() == "true";
  }
  struct IntKey {
    const char* key;
    int* value;
    bool zero_ok;
  };
  for (IntKey k : {IntKey{"batch_size", &w.batch_size, false},
                   IntKey{"suppression_days", &w.suppression_days, true},
                   IntKey{"audit_retention_days", &w.audit_retention_days, false},
                   IntKey{"sync_overlap_seconds", &w.sync_overlap_seconds, true},
                   IntKey{"lock_wait_seconds", &w.lock_wait_seconds, true},
                   IntKey{"max_new_referrals_per_pass", &w.max_new_referrals_per_pass, false},
                   IntKey{"declined_days", &w.declined_days, true}}) {
    if (!wb[k.key]) continue;
    long long v = 0;
    try {
      v = wb[k.key].as<long long>();
    } catch (const YAML::Exception&) {
      return Status::InvalidArgument(Where(path, wb[k.key]) + ": '" + k.key +
                                     "' must be an integer");
    }
    if (v < (k.zero_ok ? 0 : 1) || v > 1000000) {
      return Status::InvalidArgument(Where(path, wb[k.key]) + ": '" + k.key + "' must be " +
                                     (k.zero_ok ? "0 or more" : "positive"));
    }
    *k.value = static_cast<int>(v);
  }
  return Status::Ok();
}

// `screening:` max_age_days (future_skew_hours is read by LoadInputKeys).
Status LoadScreeningAge(const std::string& path, const YAML::Node& n, Config* c) {
  YAML::Node sc = n["screening"];
  if (!sc) return Status::Ok();
  if (Status s = CheckKeys(path, sc, {"max_age_days", "future_skew_hours"}, "screening"); !s.ok())
    return s;
  if (sc["max_age_days"]) {
    long long v = -1;
    try {
      v = sc["max_age_days"].as<long long>();
    } catch (const YAML::Exception&) {
    }
    if (v < 0 || v > 100000) {
      return Status::InvalidArgument(Where(path, sc["max_age_days"]) +
                                     ": 'max_age_days' must be an integer from 0 (no limit) "
                                     "to 100000");
    }
    c->screening.max_age_days = static_cast<int>(v);
  }
  return Status::Ok();
}

// `fhir:`, `service:` and `watch:`, kept as YAML for their own loaders.
Status LoadPassThroughSections(const std::string& path, const YAML::Node& n, Config* c) {
  if (YAML::Node f = n["fhir"]) {
    if (!f.IsMap()) return Status::InvalidArgument(Where(path, f) + ": 'fhir' must be a mapping");
    c->fhir = f;
  }
  for (const char* key : {"service", "watch"}) {
    YAML::Node section = n[key];
    if (!section) continue;
    if (!section.IsMap()) {
      return Status::InvalidArgument(Where(path, section) + ": '" + key + "' must be a mapping");
    }
    (std::string(key) == "service" ? c->service : c->watch) = section;
  }
  return Status::Ok();
}

// One entry of `referrals.routes`, over its defaults in `rc`.
Status LoadRoute(const std::string& path, const std::string& name, const YAML::Node& r,
                 RouteConfig* rc) {
  if (Status s =
          CheckKeys(path, r,
                    {"label", "resources", "review", "requester", "performer", "owner", "consent",
                     "consent_category", "consent_policy", "priority", "care_manager"},
                    "route '" + name + "'");
      !s.ok()) {
    return s;
  }
  if (r["resources"]) {
    auto res = StringList(path, r, "resources", true);
    if (!res.ok()) return res.status();
    for (const auto& t : *res) {
      if (t != "ServiceRequest" && t != "Task" && t != "Flag") {
        return Status::InvalidArgument(Where(path, r["resources"]) + ": resource '" + t +
                                       "' is not one of ServiceRequest, Task, Flag");
      }
    }
    rc->resources = *res;
  }
  if (r["review"]) {
    try {
      rc->review = r["review"].as<bool>();
    } catch (const YAML::Exception&) {
      return Status::InvalidArgument(Where(path, r["review"]) + ": 'review' must be true or false");
    }
  }
  // A key that is not a string is a config error naming it, never an exception (found by
  // fuzz_yaml_loaders: `label: [x]` reached Result::value() on an error).
  for (auto [key, field, fallback] :
       {std::tuple{"label", &rc->label, rc->label}, std::tuple{"requester", &rc->requester, ""s},
        std::tuple{"performer", &rc->performer, ""s}, std::tuple{"owner", &rc->owner, ""s},
        std::tuple{"care_manager", &rc->care_manager, ""s}}) {
    auto v = OptionalString(path, r, key, fallback);
    if (!v.ok()) return v.status();
    *field = std::move(*v);
  }
  auto consent = OptionalString(path, r, "consent", "none");
  if (!consent.ok() || (*consent != "required" && *consent != "none")) {
    return Status::InvalidArgument(Where(path, r["consent"]) +
                                   ": 'consent' must be required or none");
  }
  rc->consent_required = *consent == "required";
  for (auto [key, field] : {std::pair{"consent_category", &rc->consent_category},
                            std::pair{"consent_policy", &rc->consent_policy}}) {
    auto v = OptionalString(path, r, key, "");
    if (!v.ok()) return v.status();
    *field = std::move(*v);
  }
  if (rc->consent_required && rc->consent_category.find('|') == std::string::npos) {
    return Status::InvalidArgument(
        Where(path, r) + ": route '" + name +
        "' has consent: required and needs consent_category as system|code");
  }
  auto priority = OptionalString(path, r, "priority", "routine");
  if (!priority.ok()) return priority.status();
  rc->priority = std::move(*priority);
  if (!IsTaskPriority(rc->priority)) {
    return Status::InvalidArgument(Where(path, r["priority"]) +
                                   ": 'priority' must be routine, urgent, asap or stat");
  }
  return Status::Ok();
}

// `referrals.rule_priority`: rule name → Task priority.
Status LoadRulePriority(const std::string& path, const YAML::Node& ref, Config* c) {
  YAML::Node rp = ref["rule_priority"];
  if (!rp) return Status::Ok();
  if (!rp.IsMap()) {
    return Status::InvalidArgument(Where(path, rp) + ": 'rule_priority' must be a mapping");
  }
  for (const auto& kv : rp) {
    std::string value = kv.second.IsScalar() ? kv.second.Scalar() : "";
    if (!IsTaskPriority(value)) {
      return Status::InvalidArgument(Where(path, kv.second) + ": priority of rule '" +
                                     kv.first.Scalar() + "' must be routine, urgent, asap or stat");
    }
    c->rule_priority[kv.first.Scalar()] = value;
  }
  return Status::Ok();
}

// An optional positive number of days (issue 15).
Status PositiveDays(const std::string& path, const YAML::Node& section, const char* key,
                    int* value) {
  if (!section[key]) return Status::Ok();
  long long v = 0;
  try {
    v = section[key].as<long long>();
  } catch (const YAML::Exception&) {
    v = 0;
  }
  if (v < 1 || v > 100000) {
    return Status::InvalidArgument(Where(path, section[key]) + ": '" + key +
                                   "' must be a positive number of days");
  }
  *value = static_cast<int>(v);
  return Status::Ok();
}

// `outreach:` (issue 15 item 4): rescreen_after_days.
Status LoadOutreach(const std::string& path, const YAML::Node& n, Config* c) {
  YAML::Node o = n["outreach"];
  if (!o) return Status::Ok();
  if (Status s = CheckKeys(
          path, o, {"rescreen_after_days", "questionnaire", "questionnaire_category", "requester"},
          "outreach");
      !s.ok()) {
    return s;
  }
  for (auto [key, value] :
       {std::pair<const char*, std::string*>{"questionnaire", &c->outreach.questionnaire},
        {"questionnaire_category", &c->outreach.questionnaire_category},
        {"requester", &c->outreach.requester}}) {
    if (!o[key]) continue;
    if (!o[key].IsScalar() || o[key].Scalar().empty()) {
      return Status::InvalidArgument(Where(path, o[key]) + ": '" + key +
                                     "' must be a non-empty string");
    }
    *value = o[key].Scalar();
  }
  return PositiveDays(path, o, "rescreen_after_days", &c->outreach.rescreen_after_days);
}

// `flags:` (issue 15 item 1): after_completion_days, 0 or a positive number of days.
Status LoadFlags(const std::string& path, const YAML::Node& n, Config* c) {
  YAML::Node f = n["flags"];
  if (!f) return Status::Ok();
  if (Status s = CheckKeys(path, f, {"after_completion_days"}, "flags"); !s.ok()) return s;
  if (!f["after_completion_days"]) return Status::Ok();
  long long v = -1;
  try {
    v = f["after_completion_days"].as<long long>();
  } catch (const YAML::Exception&) {
    v = -1;
  }
  if (v < 0 || v > 100000) {
    return Status::InvalidArgument(Where(path, f["after_completion_days"]) +
                                   ": 'after_completion_days' must be 0 (never) or a positive "
                                   "number of days");
  }
  c->flags.after_completion_days = static_cast<int>(v);
  return Status::Ok();
}

// `directory:` (issue 15 item 3): source, require_language, capacity_extension.
Status LoadDirectory(const std::string& path, const YAML::Node& n, const fs::path& base,
                     Config* c) {
  YAML::Node d = n["directory"];
  if (!d) return Status::Ok();
  if (!d.IsMap()) {
    return Status::InvalidArgument(Where(path, d) + ": 'directory' must be a mapping");
  }
  if (Status s =
          CheckKeys(path, d, {"source", "require_language", "capacity_extension"}, "directory");
      !s.ok()) {
    return s;
  }
  auto source = RequiredString(path, d, "source");
  if (!source.ok()) return source.status();
  c->directory.source = Resolve(base, *source);
  if (YAML::Node b = d["require_language"]) {
    if (!b.IsScalar() || (b.Scalar() != "true" && b.Scalar() != "false")) {
      return Status::InvalidArgument(Where(path, b) + ": 'require_language' must be true or false");
    }
    c->directory.require_language = b.Scalar() == "true";
  }
  auto ext = OptionalString(path, d, "capacity_extension", "");
  if (!ext.ok()) return ext.status();
  c->directory.capacity_extension = *ext;
  return Status::Ok();
}

// `referrals:` (required): identifier_system, routes over the defaults, rule_priority.
Status LoadReferrals(const std::string& path, const YAML::Node& n, Config* c) {
  // Referral policy. Defaults per the product design; config may override each route.
  // The routes when the config names none (config/sdoh-bridge.yaml lists them too). A route
  // is data: a config may add its own, and every need's route must be one of them.
  auto route = [](std::string label, std::vector<std::string> resources) {
    RouteConfig r;
    r.label = std::move(label);
    r.resources = std::move(resources);
    return r;
  };
  c->routes["social-work"] = route("social work", {"ServiceRequest", "Task", "Flag"});
  c->routes["transportation"] =
      route("transportation services", {"ServiceRequest", "Task", "Flag"});
  c->routes["interpreter"] = route("interpreter services", {"ServiceRequest", "Flag"});
  c->routes["none"] = route("", {"Flag"});
  YAML::Node ref = n["referrals"];
  if (!ref) return Status::InvalidArgument(Where(path, n) + ": missing required key 'referrals'");
  if (Status s = CheckKeys(path, ref,
                           {"identifier_system", "routes", "rule_priority", "accept_within_days",
                            "complete_within_days"},
                           "referrals");
      !s.ok()) {
    return s;
  }
  auto sys = RequiredString(path, ref, "identifier_system");
  if (!sys.ok()) return sys.status();
  c->identifier_system = *sys;
  for (auto [key, value] :
       {std::pair<const char*, int*>{"accept_within_days", &c->loop.accept_within_days},
        std::pair<const char*, int*>{"complete_within_days", &c->loop.complete_within_days}}) {
    if (Status s = PositiveDays(path, ref, key, value); !s.ok()) return s;
  }
  if (YAML::Node routes = ref["routes"]) {
    if (!routes.IsMap()) {
      return Status::InvalidArgument(Where(path, routes) + ": 'routes' must be a mapping");
    }
    for (const auto& kv : routes) {
      const std::string name = kv.first.Scalar();
      auto it = c->routes.try_emplace(name).first;  // a new route, or one of the defaults
      if (Status s = LoadRoute(path, name, kv.second, &it->second); !s.ok()) return s;
    }
  }
  return LoadRulePriority(path, ref, c);
}

}  // namespace

Result<Config> LoadConfig(const std::string& path) {
  auto doc = LoadYamlFile(path);
  if (!doc.ok()) return doc.status();
  const YAML::Node& n = *doc;
  Config c;
  c.path = path;
  if (Status s =
          CheckKeys(path, n,
                    {"source", "out", "mappings", "rules", "time_zone", "limits", "referrals",
                     "fhir", "writeback", "service", "watch", "forms", "source_aliases",
                     "screening", "threads", "outreach", "flags", "directory"},
                    "config");
      !s.ok()) {
    return s;
  }
  // Section by section, in this order (the first error found is the one reported).
  const fs::path base = fs::absolute(fs::path(path)).parent_path();
  if (Status s = LoadPaths(path, n, base, &c); !s.ok()) return s;
  if (Status s = LoadLimits(path, n, &c); !s.ok()) return s;
  if (Status s = LoadThreads(path, n, &c); !s.ok()) return s;
  if (Status s = LoadForms(path, n, &c); !s.ok()) return s;
  if (Status s = LoadInputKeys(path, n, &c); !s.ok()) return s;
  if (Status s = LoadWriteback(path, n, base, &c); !s.ok()) return s;
  if (Status s = LoadScreeningAge(path, n, &c); !s.ok()) return s;
  if (Status s = LoadPassThroughSections(path, n, &c); !s.ok()) return s;
  if (Status s = LoadOutreach(path, n, &c); !s.ok()) return s;
  if (Status s = LoadFlags(path, n, &c); !s.ok()) return s;
  if (Status s = LoadDirectory(path, n, base, &c); !s.ok()) return s;
  if (Status s = LoadReferrals(path, n, &c); !s.ok()) return s;
  return c;
}

}  // namespace sdoh
