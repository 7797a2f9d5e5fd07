#include "plugin/referrals/referral_planner.h"

#include <algorithm>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "plugin/referrals/identifiers.h"

namespace sdoh {

// Pre-serialised JSON values of a referral's parts that depend only on its need and route.
struct ReferralFragments {
  std::string sr_meta, sr_category, sr_code, sr_order_detail;
  std::string requester, performer, owner;
  std::string task_meta, task_code;
  std::string flag_meta, flag_category, flag_code;  // flag_code: not for interpreter (see below)
  std::string note_prefix;                          // plain text, not JSON
};

namespace {

constexpr const char* kSdohccBase = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/";
constexpr const char* kUsCoreCategory = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category";
constexpr const char* kSnomed = "http://snomed.info/sct";

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

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
    CodeableConcept(w, domain_system, def.domain.code, def.domain.display);
    w.EndArray();
  });
  f->sr_code = Json([&](Writer& w) {
    if (def.service_unverified || def.service.code.empty()) {
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
    if (def.route == "interpreter") {
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
  f->note_prefix = "Referral for " + def.name + " (" + def.domain.display +
                   ") from social-needs screening. Rule set " + ctx.ruleset_id + " " +
                   ctx.ruleset_version + ". Why: ";
  slot = std::move(f);
  return *slot;
}

std::string BuildServiceRequest(const NeedFlag& flag, const RouteConfig& route,
                                const std::string& identifier, const PlanContext& ctx) {
  const NeedDef& def = *flag.def;
  const ReferralFragments& f = FragmentsFor(def, route, ctx);
  rapidjson::StringBuffer sb;
  sb.Reserve(2048);
  Writer w(sb);
  w.StartObject();
  Key(w, "resourceType");
  w.String("ServiceRequest");
  KeyRaw(w, "meta", f.sr_meta, rapidjson::kObjectType);
  Identifier(w, ctx.config->identifier_system, identifier);
  Key(w, "status");
  w.String(route.review ? "draft" : "active");
  Key(w, "intent");
  w.String(route.review ? "proposal" : "order");
  KeyRaw(w, "category", f.sr_category, rapidjson::kArrayType);
  KeyRaw(w, "code", f.sr_code, rapidjson::kObjectType);
  if (def.sensitive) KeyRaw(w, "orderDetail", f.sr_order_detail, rapidjson::kArrayType);
  Key(w, "subject");
  Ref(w, "Patient/" + flag.patient_id);
  Key(w, "authoredOn");
  Str(w, Date(ctx.now));
  if (!route.requester.empty()) KeyRaw(w, "requester", f.requester, rapidjson::kObjectType);
  if (!route.performer.empty()) KeyRaw(w, "performer", f.performer, rapidjson::kArrayType);
  bool any_reason = false, any_supporting = false;
  for (const auto& [ref, v] : flag.evidence) {
    (ref.rfind("Observation/", 0) == 0 ? any_reason : any_supporting) = true;
  }
  for (bool reasons : {true, false}) {
    if (!(reasons ? any_reason : any_supporting)) continue;
    Key(w, reasons ? "reasonReference" : "supportingInfo");
    w.StartArray();
    for (const auto& [ref, v] : flag.evidence) {
      if ((ref.rfind("Observation/", 0) == 0) == reasons) Ref(w, ref);
    }
    w.EndArray();
  }
  std::string note = f.note_prefix;
  for (size_t i = 0; i < flag.why.size(); ++i) {
    if (i > 0) note += "; ";
    note += flag.why[i];
  }
  note += ".";
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
                      const PlanContext& ctx) {
  const ReferralFragments& f = FragmentsFor(*flag.def, route, ctx);
  rapidjson::StringBuffer sb;
  sb.Reserve(1024);
  Writer w(sb);
  w.StartObject();
  Key(w, "resourceType");
  w.String("Task");
  KeyRaw(w, "meta", f.task_meta, rapidjson::kObjectType);
  Identifier(w, ctx.config->identifier_system, TaskIdentifier(sr_id));
  Key(w, "status");
  w.String("requested");
  Key(w, "intent");
  w.String("order");
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
  Ref(w, "Patient/" + flag.patient_id);
  Key(w, "authoredOn");
  Str(w, Date(ctx.now));
  if (!route.requester.empty()) KeyRaw(w, "requester", f.requester, rapidjson::kObjectType);
  if (!route.owner.empty()) KeyRaw(w, "owner", f.owner, rapidjson::kObjectType);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string FlagText(const NeedFlag& flag) {
  const NeedDef& def = *flag.def;
  if (flag.need == "interpreter") {
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
  rapidjson::StringBuffer sb;
  sb.Reserve(1024);
  Writer w(sb);
  w.StartObject();
  Key(w, "resourceType");
  w.String("Flag");
  KeyRaw(w, "meta", f.flag_meta, rapidjson::kObjectType);
  Identifier(w, ctx.config->identifier_system, identifier);
  Key(w, "status");
  w.String("active");
  KeyRaw(w, "category", f.flag_category, rapidjson::kArrayType);
  Key(w, "code");
  if (flag.need == "interpreter") {  // the text names the language
    CodeableConcept(w, ctx.catalog->domain_system(), def.domain.code,
                    def.sensitive ? std::string() : def.domain.display, FlagText(flag));
  } else {
    w.RawValue(f.flag_code.data(), f.flag_code.size(), rapidjson::kObjectType);
  }
  Key(w, "subject");
  Ref(w, "Patient/" + flag.patient_id);
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
  if (sr) {
    std::string sr_id = ServiceRequestIdentifier(flag);
    plan.resources.push_back(
        {"ServiceRequest", sr_id, BuildServiceRequest(flag, route, sr_id, ctx)});
    if (wants("Task") && !route.review) {
      plan.resources.push_back({"Task", TaskIdentifier(sr_id), BuildTask(flag, route, sr_id, ctx)});
    }
  }
  if (wants("Flag")) {
    std::string fid = FlagIdentifier(flag.patient_id, flag.need);
    plan.resources.push_back({"Flag", fid, BuildFlag(flag, fid, ctx, route)});
  }
  if (plan.resources.empty()) plan.not_planned = "route " + plan.route + " creates no resources";
  return plan;
}

}  // namespace sdoh
