#include "plugin/referrals/referral_planner.h"

#include <algorithm>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json_writer.h"
#include "plugin/referrals/identifiers.h"

namespace sdoh {

// Pre-serialised JSON values of a referral's parts that depend only on its need and route.
struct ReferralFragments {
  std::string sr_meta, sr_category, sr_code, sr_order_detail, sr_reason_code;
  std::string requester, performer, owner;
  std::string task_meta, task_code;
  std::string flag_meta, flag_category, flag_code;  // flag_code: not for interpreter (see below)
  std::string note_prefix;                          // plain text, not JSON
};

namespace {

constexpr const char* kSdohccBase = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/";
constexpr const char* kUsCoreCategory = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category";
constexpr const char* kSnomed = "http://snomed.info/sct";

// The same text as rapidjson::Writer, strings and cached fragments copied with memcpy.
using Writer = fhir::json::TextWriter;

void Str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void Key(Writer& w, const char* k) { w.Key(k); }

void CodingObj(Writer& w, const std::string& system, const std::string& code,
               const std::string& display) {
  w.StartObject();
  Key(w, "system");
  Str(w, system);
  Key(w, "code");
  Str(w, code);
  if (!display.empty()) {
    Key(w, "display");
    Str(w, display);
  }
  w.EndObject();
}

void CodeableConcept(Writer& w, const std::string& system, const std::string& code,
                     const std::string& display, const std::string& text = "") {
  w.StartObject();
  Key(w, "coding");
  w.StartArray();
  CodingObj(w, system, code, display);
  w.EndArray();
  if (!text.empty()) {
    Key(w, "text");
    Str(w, text);
  }
  w.EndObject();
}

void Ref(Writer& w, const std::string& reference) {
  w.StartObject();
  Key(w, "reference");
  Str(w, reference);
  w.EndObject();
}
// {"reference": "Patient/<id>"}, the reference built in a buffer of the thread.
void PatientRef(Writer& w, const std::string& patient_id) {
  thread_local std::string reference;
  reference.assign("Patient/").append(patient_id);
  Ref(w, reference);
}

void Identifier(Writer& w, const std::string& system, const std::string& value) {
  Key(w, "identifier");
  w.StartArray();
  w.StartObject();
  Key(w, "system");
  Str(w, system);
  Key(w, "value");
  Str(w, value);
  w.EndObject();
  w.EndArray();
}

// meta: the SDOHCC profile (when given), the rule-set tag (identifiers.h), and the
// restricted confidentiality label on a sensitive need.
void MetaValue(Writer& w, const char* profile, bool sensitive, const std::string& ruleset_tag) {
  w.StartObject();
  if (profile != nullptr) {
    Key(w, "profile");
    w.StartArray();
    Str(w, std::string(kSdohccBase) + profile);
    w.EndArray();
  }
  if (sensitive) {
    Key(w, "security");
    w.StartArray();
    CodingObj(w, "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R", "restricted");
    w.EndArray();
  }
  Key(w, "tag");
  w.StartArray();
  CodingObj(w, std::string(kRulesetTagSystem), ruleset_tag, "");
  w.EndArray();
  w.EndObject();
}

// The JSON text of one value written by `write`.
template <typename F>
std::string Json(F&& write) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  write(w);
  return std::string(sb.GetString(), sb.GetSize());
}
// The buffer a ServiceRequest, Task or Flag is written into, emptied and reused by the thread
// (its capacity stays): a fresh buffer per resource was a malloc and free each, the
// ServiceRequest's 2 KiB past glibc's per-thread cache (issue 17). Only the three builders below
// use it, and none of them calls another.
rapidjson::StringBuffer& ResourceBuffer() {
  thread_local rapidjson::StringBuffer sb;
  sb.Clear();
  return sb;
}
// The writer of those three builders, reset per resource: its level stack stays too.
Writer& ResourceWriter(rapidjson::StringBuffer& sb) {
  thread_local Writer w(sb);
  w.Reset(sb);
  return w;
}
// `key` and a value serialised before (Json above), as the writer would have written it.
void KeyRaw(Writer& w, const char* key, const std::string& json, rapidjson::Type type) {
  Key(w, key);
  w.RawValue(json.data(), json.size(), type);
}

// Every resource of a run carries the same authoredOn: format it once per value.
const std::string& Date(fhir::InstantMicros t) {
  thread_local fhir::InstantMicros last = 0;
  thread_local std::string text;
  if (text.empty() || last != t) {
    text = fhir::FormatInstantUtc(t);
    last = t;
  }
  return text;
}

const ReferralFragments& FragmentsFor(const NeedDef& def, const RouteConfig& route,
                                      const PlanContext& ctx) {
  auto& slot = ctx.fragments[{&def, &route}];
  if (slot) return *slot;
  auto f = std::make_shared<ReferralFragments>();
  const std::string& domain_system = ctx.catalog->domain_system();
  const std::string tag = RulesetTagCode(ctx.ruleset_id, ctx.ruleset_version);
  f->sr_meta = Json([&](Writer& w) { MetaValue(w, "SDOHCC-ServiceRequest", def.sensitive, tag); });
  f->sr_category = Json([&](Writer& w) {
    w.StartArray();
    CodeableConcept(w, kUsCoreCategory, "sdoh", "SDOH");
    CodeableConcept(w, kSnomed, "410606002", "Social service procedure");
    // The domain coding carries the CodeSystem display from needs.yaml (left out there when
    // it would name a sensitive need); category.text is the domain in words, or the neutral
    // wording for a sensitive need (issue 14 items 8, 9).
    CodeableConcept(w, domain_system, def.domain.code, def.domain.display,
                    def.sensitive ? def.neutral_text : def.domain_text);
    w.EndArray();
  });
  // reasonCode when no evidence Observation can be the reasonReference. A code marked
  // unverified in needs.yaml is not sent: its text is.
  f->sr_reason_code = Json([&](Writer& w) {
    w.StartArray();
    if (!def.reason.code.empty() && !def.reason_unverified) {
      CodeableConcept(w, def.reason.system, def.reason.code, def.reason.display, def.reason_text);
    } else {
      w.StartObject();
      Key(w, "text");
      Str(w, !def.reason_text.empty() ? def.reason_text
                                      : (def.sensitive ? def.neutral_text : def.domain_text));
      w.EndObject();
    }
    w.EndArray();
  });
  f->sr_code = Json([&](Writer& w) {
    // A code marked unverified in needs.yaml is still sent (the US Core binding of code is
    // required); only a need without any code is sent as text.
    if (def.service.code.empty()) {
      w.StartObject();
      Key(w, "text");
      Str(w, def.service_text.empty() ? def.name : def.service_text);
      w.EndObject();
    } else {
      CodeableConcept(w, def.service.system, def.service.code, def.service.display);
    }
  });
  f->sr_order_detail = Json([&](Writer& w) {
    w.StartArray();
    CodeableConcept(w, domain_system, "contacting-subject-prohibited",
                    "Contacting subject prohibited");
    w.EndArray();
  });
  f->requester = Json([&](Writer& w) { Ref(w, route.requester); });
  f->performer = Json([&](Writer& w) {
    w.StartArray();
    Ref(w, route.performer);
    w.EndArray();
  });
  f->owner = Json([&](Writer& w) { Ref(w, route.owner); });
  f->task_meta = Json(
      [&](Writer& w) { MetaValue(w, "SDOHCC-TaskForReferralManagement", def.sensitive, tag); });
  f->task_code = Json([&](Writer& w) {
    CodeableConcept(w, "http://hl7.org/fhir/CodeSystem/task-code", "fulfill",
                    "Fulfill the focal request");
  });
  f->flag_meta = Json([&](Writer& w) { MetaValue(w, nullptr, def.sensitive, tag); });
  f->flag_category = Json([&](Writer& w) {
    w.StartArray();
    if (def.language) {
      CodeableConcept(w, "http://terminology.hl7.org/CodeSystem/flag-category", "contact",
                      "Subject Contact");
    } else {
      CodeableConcept(w, "http://terminology.hl7.org/CodeSystem/flag-category", "admin",
                      "Administrative");
    }
    w.EndArray();
  });
  // FlagText is def.flag_text for every need but interpreter (which names the language).
  f->flag_code = Json([&](Writer& w) {
    CodeableConcept(w, domain_system, def.domain.code,
                    def.sensitive ? std::string() : def.domain.display, def.flag_text);
  });
  // A sensitive need's note names neither the need nor why it fired: details stay in
  // `sdoh-bridge explain` and flags.ndjson (issue 14 item 8). The "Rule set <id> <version>. "
  // wording is read back by writeback (withdrawn rule sets).
  f->note_prefix = def.sensitive
                       ? "Referral from social-needs screening: " + def.neutral_text +
                             ". Rule set " + ctx.ruleset_id + " " + ctx.ruleset_version + ". "
                       : "Referral for " + def.name + " (" + def.domain_text +
                             ") from social-needs screening. Rule set " + ctx.ruleset_id + " " +
                             ctx.ruleset_version + ". Why: ";
  slot = std::move(f);
  return *slot;
}

std::string BuildServiceRequest(const NeedFlag& flag, const RouteConfig& route,
                                const std::string& identifier, bool draft, const PlanContext& ctx,
                                const DirectoryChoice& choice) {
  const NeedDef& def = *flag.def;
  const ReferralFragments& f = FragmentsFor(def, route, ctx);
  rapidjson::StringBuffer& sb = ResourceBuffer();
  Writer& w = ResourceWriter(sb);
  w.StartObject();
  Key(w, "resourceType");
  w.String("ServiceRequest");
  KeyRaw(w, "meta", f.sr_meta, rapidjson::kObjectType);
  Identifier(w, ctx.config->identifier_system, identifier);
  Key(w, "status");
  w.String(draft ? "draft" : "active");
  Key(w, "intent");
  w.String(draft ? "proposal" : "order");
  std::vector<const Coding*> extra;
  for (const std::string& rule : flag.rules) {
    auto it = def.rule_categories.find(rule);
    if (it != def.rule_categories.end()) extra.push_back(&it->second);
  }
  if (extra.empty()) {
    KeyRaw(w, "category", f.sr_category, rapidjson::kArrayType);
  } else {  // the cached array plus the rule's domain codings
    Key(w, "category");
    std::string cats = f.sr_category;
    cats.pop_back();  // ']'
    for (const Coding* c : extra) {
      cats += "," + Json([&](Writer& cw) { CodeableConcept(cw, c->system, c->code, c->display); });
    }
    cats += "]";
    w.RawValue(cats.data(), cats.size(), rapidjson::kArrayType);
  }
  KeyRaw(w, "code", f.sr_code, rapidjson::kObjectType);
  if (def.sensitive) KeyRaw(w, "orderDetail", f.sr_order_detail, rapidjson::kArrayType);
  Key(w, "subject");
  PatientRef(w, flag.patient_id);
  Key(w, "authoredOn");
  Str(w, Date(ctx.now));
  if (!route.requester.empty()) KeyRaw(w, "requester", f.requester, rapidjson::kObjectType);
  if (!choice.service.empty()) {  // the service directory's choice (issue 15 item 3)
    Key(w, "performer");
    w.StartArray();
    Ref(w, choice.service);
    w.EndArray();
  } else if (!route.performer.empty()) {
    KeyRaw(w, "performer", f.performer, rapidjson::kArrayType);
  }
  // Evidence Observations are the reason; other evidence (QuestionnaireResponses) supports
  // it. The subject Patient is never supportingInfo (issue 14 item 9).
  bool any_reason = false, any_supporting = false;
  for (const auto& [ref, v] : flag.evidence) {
    if (ref.rfind("Observation/", 0) == 0) {
      any_reason = true;
    } else if (ref.rfind("Patient/", 0) != 0) {
      any_supporting = true;
    }
  }
  if (any_reason) {
    Key(w, "reasonReference");
    w.StartArray();
    for (const auto& [ref, v] : flag.evidence) {
      if (ref.rfind("Observation/", 0) == 0) Ref(w, ref);
    }
    w.EndArray();
  } else {
    KeyRaw(w, "reasonCode", f.sr_reason_code, rapidjson::kArrayType);
  }
  if (any_supporting) {
    Key(w, "supportingInfo");
    w.StartArray();
    for (const auto& [ref, v] : flag.evidence) {
      if (ref.rfind("Observation/", 0) != 0 && ref.rfind("Patient/", 0) != 0) Ref(w, ref);
    }
    w.EndArray();
  }
  thread_local std::string note;  // kept by the thread: its capacity stays
  note.assign(f.note_prefix);
  if (!flag.def->sensitive) {
    for (size_t i = 0; i < flag.why.size(); ++i) {
      if (i > 0) note += "; ";
      note += flag.why[i];
    }
    note += ".";
  } else {
    note += "Details: sdoh-bridge explain.";
  }
  Key(w, "note");
  w.StartArray();
  w.StartObject();
  Key(w, "text");
  Str(w, note);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string BuildTask(const NeedFlag& flag, const RouteConfig& route, const std::string& sr_id,
                      const std::string& task_id, const PlanContext& ctx,
                      const DirectoryChoice& choice) {
  const ReferralFragments& f = FragmentsFor(*flag.def, route, ctx);
  rapidjson::StringBuffer& sb = ResourceBuffer();
  Writer& w = ResourceWriter(sb);
  w.StartObject();
  Key(w, "resourceType");
  w.String("Task");
  KeyRaw(w, "meta", f.task_meta, rapidjson::kObjectType);
  Identifier(w, ctx.config->identifier_system, task_id);
  Key(w, "status");
  w.String("requested");
  Key(w, "intent");
  w.String("order");
  Key(w, "priority");
  Str(w, TaskPriority(flag, route, *ctx.config));
  KeyRaw(w, "code", f.task_code, rapidjson::kObjectType);
  // The ServiceRequest by its business identifier; a transaction rewrites it to urn:uuid.
  Key(w, "focus");
  w.StartObject();
  Key(w, "type");
  w.String("ServiceRequest");
  Key(w, "identifier");
  w.StartObject();
  Key(w, "system");
  Str(w, ctx.config->identifier_system);
  Key(w, "value");
  Str(w, sr_id);
  w.EndObject();
  w.EndObject();
  Key(w, "for");
  PatientRef(w, flag.patient_id);
  Key(w, "authoredOn");
  Str(w, Date(ctx.now));
  if (!route.requester.empty()) KeyRaw(w, "requester", f.requester, rapidjson::kObjectType);
  if (!choice.service.empty()) {  // the service directory's choice (issue 15 item 3)
    Key(w, "owner");
    Ref(w, !choice.organization.empty() ? choice.organization : choice.service);
  } else if (!route.owner.empty()) {
    KeyRaw(w, "owner", f.owner, rapidjson::kObjectType);
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string FlagText(const NeedFlag& flag) {
  const NeedDef& def = *flag.def;
  if (def.language) {
    if (flag.possible) return def.flag_text_possible;
    std::string lang = !flag.language_display.empty() ? flag.language_display : flag.language;
    return lang.empty() ? def.flag_text : def.flag_text + " – " + lang;
  }
  return def.flag_text;
}

std::string BuildFlag(const NeedFlag& flag, const std::string& identifier, const PlanContext& ctx,
                      const RouteConfig& route) {
  const NeedDef& def = *flag.def;
  const ReferralFragments& f = FragmentsFor(def, route, ctx);
  rapidjson::StringBuffer& sb = ResourceBuffer();
  Writer& w = ResourceWriter(sb);
  w.StartObject();
  Key(w, "resourceType");
  w.String("Flag");
  KeyRaw(w, "meta", f.flag_meta, rapidjson::kObjectType);
  Identifier(w, ctx.config->identifier_system, identifier);
  Key(w, "status");
  w.String("active");
  KeyRaw(w, "category", f.flag_category, rapidjson::kArrayType);
  Key(w, "code");
  if (def.language) {  // the text names the language
    CodeableConcept(w, ctx.catalog->domain_system(), def.domain.code,
                    def.sensitive ? std::string() : def.domain.display, FlagText(flag));
  } else {
    w.RawValue(f.flag_code.data(), f.flag_code.size(), rapidjson::kObjectType);
  }
  Key(w, "subject");
  PatientRef(w, flag.patient_id);
  if (flag.screened_at) {
    Key(w, "period");
    w.StartObject();
    Key(w, "start");
    Str(w, fhir::FormatInstantUtc(*flag.screened_at));
    w.EndObject();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace

DirectoryChoice ChoosePerformer(const NeedFlag& flag, const PatientFacts& facts,
                                const PlanContext& ctx) {
  DirectoryQuery q;
  q.category_system = ctx.catalog->domain_system();
  q.category_code = flag.def->domain.code;
  q.postal_code = facts.postal_code;
  q.language = facts.communication_language;
  if (ctx.rejected != nullptr) {
    auto it = ctx.rejected->find({flag.patient_id, flag.need});
    if (it != ctx.rejected->end()) q.rejected = it->second;
  }
  return ctx.directory->Choose(q);
}

int64_t ScreenedDaysAgo(const NeedFlag& flag, fhir::InstantMicros now) {
  if (!flag.screened_at) return -1;
  const int64_t micros = now - *flag.screened_at;
  return micros <= 0 ? 0 : micros / (86400LL * 1000000LL);
}

bool IsStale(const NeedFlag& flag, const Config& config, fhir::InstantMicros now) {
  const int max_days = config.screening.max_age_days;
  if (max_days <= 0 || !flag.screened_at) return false;
  // A need the Patient resource itself also decides (interpreter) rests on current data.
  for (const auto& [ref, version] : flag.evidence) {
    if (ref.rfind("Patient/", 0) == 0) return false;
  }
  return now - *flag.screened_at > static_cast<int64_t>(max_days) * 86400LL * 1000000LL;
}

std::string ActivateServiceRequest(const std::string& json, const std::string& consent_reference) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  if (d.HasParseError() || !d.IsObject()) return json;
  auto& a = d.GetAllocator();
  d.RemoveMember("status");
  d.AddMember("status", "active", a);
  d.RemoveMember("intent");
  d.AddMember("intent", "order", a);
  if (!consent_reference.empty()) {
    if (!d.HasMember("supportingInfo") || !d["supportingInfo"].IsArray()) {
      d.RemoveMember("supportingInfo");
      d.AddMember("supportingInfo", rapidjson::Value(rapidjson::kArrayType), a);
    }
    bool there = false;
    for (const auto& r : d["supportingInfo"].GetArray()) {
      there |= r.IsObject() && r.HasMember("reference") && r["reference"].IsString() &&
               consent_reference == r["reference"].GetString();
    }
    if (!there) {
      rapidjson::Value ref(rapidjson::kObjectType);
      ref.AddMember("reference", rapidjson::Value(consent_reference.c_str(), a), a);
      d["supportingInfo"].PushBack(ref, a);
    }
  }
  rapidjson::StringBuffer sb;
  Writer w(sb);
  d.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

std::string TaskPriority(const NeedFlag& flag, const RouteConfig& route, const Config& config) {
  std::string best = route.priority.empty() ? "routine" : route.priority;
  for (const std::string& rule : flag.rules) {
    auto it = config.rule_priority.find(rule);
    if (it != config.rule_priority.end() && TaskPriorityRank(it->second) > TaskPriorityRank(best)) {
      best = it->second;
    }
  }
  return best;
}

ReferralPlan PlanReferral(const NeedFlag& flag, const PatientFacts& facts, const PlanContext& ctx) {
  ReferralPlan plan;
  plan.patient_id = flag.patient_id;
  plan.need = flag.need;
  plan.route = flag.def->route;
  if (facts.present && facts.deceased) {
    plan.not_planned = "patient deceased";
    return plan;
  }
  if (facts.present && !facts.active) {
    plan.not_planned = "patient inactive";
    return plan;
  }
  if (IsStale(flag, *ctx.config, ctx.now)) {  // rescreen first (issue 14 item 1)
    plan.not_planned = kNotPlannedStale;
    return plan;
  }
  auto rit = ctx.config->routes.find(plan.route);
  if (rit == ctx.config->routes.end()) {
    plan.not_planned = "no route configured";
    return plan;
  }
  const RouteConfig& route = rit->second;
  auto wants = [&](const char* t) {
    return std::find(route.resources.begin(), route.resources.end(), t) != route.resources.end();
  };
  bool sr = flag.def->has_service && wants("ServiceRequest");
  if (sr && ctx.declines != nullptr) {
    if (const Decline* d = ctx.declines->Find(flag.patient_id, flag.need, ctx.now)) {
      // A newer screening lifts it early only when configured.
      const bool lifted = ctx.config->writeback.declined_lifted_by_new_screening &&
                          flag.screened_at && *flag.screened_at > d->decided;
      if (!lifted) {
        plan.declined_reason = d->reason;
        plan.declined_at = d->decided;
        plan.declined_until = d->until;
        sr = false;
      }
    }
  }
  std::string sr_id;
  if (sr) {
    // An uncertain need is never an active order, whatever the route says (issue 14 item 2).
    plan.draft_reason = flag.possible            ? "possible"
                        : route.review           ? "review"
                        : route.consent_required ? "consent"
                                                 : "";
    if (ctx.directory != nullptr) plan.directory = ChoosePerformer(flag, facts, ctx);
    sr_id = ServiceRequestIdentifier(flag);
    plan.resources.reserve(3);  // ServiceRequest, Task, Flag: one allocation
    plan.resources.push_back(
        {"ServiceRequest", sr_id,
         BuildServiceRequest(flag, route, sr_id, !plan.draft_reason.empty(), ctx, plan.directory)});
    if (wants("Task")) {
      std::string task_id = TaskIdentifier(sr_id);
      std::string json = BuildTask(flag, route, sr_id, task_id, ctx, plan.directory);
      PlannedResource task{"Task", std::move(task_id), std::move(json)};
      if (plan.draft_reason.empty()) {
        plan.resources.push_back(std::move(task));
      } else {
        plan.held_task = std::move(task);
      }
    }
  }
  if (wants("Flag")) {
    // The need key of the ServiceRequest's identifier, not hashed again (identifiers.h).
    std::string fid =
        sr_id.empty() ? FlagIdentifier(flag.patient_id, flag.need) : FlagIdentifierOf(sr_id);
    std::string json = BuildFlag(flag, fid, ctx, route);
    if (ctx.completions != nullptr) {
      auto done = ctx.completions->Find(flag.patient_id, flag.need);
      if (done && CompletionApplies(flag.screened_at, *done)) {
        json = FlagWithCompletion(json, *done, ctx.now, ctx.config->flags.after_completion_days,
                                  ctx.config->time_zone);
      }
    }
    plan.resources.push_back({"Flag", fid, std::move(json)});
  }
  if (plan.resources.empty()) {
    plan.not_planned = !plan.declined_reason.empty()
                           ? kNotPlannedDeclined
                           : "route " + plan.route + " creates no resources";
  }
  return plan;
}

}  // namespace sdoh
