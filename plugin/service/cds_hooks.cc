#include "plugin/service/cds_hooks.h"

#include <openssl/rand.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "fhir/json.h"
#include "fhir/memory_store.h"
#include "plugin/pass/evaluate_pass.h"
#include "plugin/referrals/referral_planner.h"

namespace sdoh::service {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string ErrorJson(const std::string& message) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  Str(w, "error", message);
  w.EndObject();
  return sb.GetString();
}

std::string Uuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string GetStr(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return {};
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
}

// A prefetch value counts only when it is the resource (or Bundle) asked for; an absent key,
// null or an OperationOutcome means the client could not satisfy it.
const rapidjson::Value* Prefetched(const rapidjson::Value& prefetch, const char* key,
                                   const char* type) {
  auto it = prefetch.FindMember(key);
  if (it == prefetch.MemberEnd() || !it->value.IsObject()) return nullptr;
  if (GetStr(it->value, "resourceType") != type) return nullptr;
  return &it->value;
}

template <typename Fn>
void ForEachEntry(const rapidjson::Value& bundle, Fn fn) {
  auto it = bundle.FindMember("entry");
  if (it == bundle.MemberEnd() || !it->value.IsArray()) return;
  for (const auto& e : it->value.GetArray()) {
    if (!e.IsObject()) continue;
    auto r = e.FindMember("resource");
    if (r != e.MemberEnd() && r->value.IsObject()) fn(r->value);
  }
}

// SDOHCC domain codes of the patient's open (draft / active / on-hold) ServiceRequests.
std::set<std::string> OpenReferralDomains(const rapidjson::Value& bundle) {
  std::set<std::string> out;
  ForEachEntry(bundle, [&](const rapidjson::Value& r) {
    if (GetStr(r, "resourceType") != "ServiceRequest") return;
    std::string status = GetStr(r, "status");
    if (status != "draft" && status != "active" && status != "on-hold") return;
    auto cat = r.FindMember("category");
    if (cat == r.MemberEnd() || !cat->value.IsArray()) return;
    for (const auto& cc : cat->value.GetArray()) {
      if (!cc.IsObject() || !cc.HasMember("coding") || !cc["coding"].IsArray()) continue;
      for (const auto& c : cc["coding"].GetArray()) {
        out.insert(GetStr(c, "system") + "|" + GetStr(c, "code"));
      }
    }
  });
  return out;
}

// "Practitioner/1" or "PractitionerRole/1": a viewer who can be a referral's requester.
bool IsPractitioner(const std::string& user_id) {
  return user_id.rfind("Practitioner/", 0) == 0 || user_id.rfind("PractitionerRole/", 0) == 0;
}

// The suggested ServiceRequest with the viewing practitioner as requester (issue 14 item 6):
// the one who accepts the suggestion is the one who orders it.
std::string WithRequester(const std::string& json, const std::string& user_id) {
  rapidjson::Document sr;
  sr.Parse(json.data(), json.size());
  if (sr.HasParseError() || !sr.IsObject()) return json;
  auto& a = sr.GetAllocator();
  rapidjson::Value requester(rapidjson::kObjectType);
  requester.AddMember("reference", rapidjson::Value(user_id.c_str(), a), a);
  if (sr.HasMember("requester")) {
    sr["requester"] = requester;
  } else {
    sr.AddMember("requester", requester, a);
  }
  rapidjson::StringBuffer sb;
  Writer w(sb);
  sr.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

void WriteCard(Writer& w, const Pipeline& p, const HookCall& call, const NeedFlag& flag,
               const ReferralPlan& plan, bool already_open, IssuedCard* issued,
               std::string* card_uuid) {
  const NeedDef* def = flag.def;
  std::string route = def ? def->route : plan.route;
  w.StartObject();
  *card_uuid = Uuid();
  Str(w, "uuid", *card_uuid);
  // No names or free text in the summary: the need, its certainty and the route.
  std::string summary = "Social need: " + flag.need + (flag.possible ? " (possible)" : "");
  // The route's label and the need's indicator are data (config referrals.routes, needs.yaml).
  auto rc = p.config.routes.find(route);
  if (rc != p.config.routes.end() && !rc->second.label.empty()) {
    summary += " - consider referral to " + rc->second.label;
  }
  if (summary.size() > 139) summary.resize(139);
  Str(w, "summary", summary);
  Str(w, "indicator", def != nullptr ? def->card_indicator : "info");
  w.Key("source");
  w.StartObject();
  Str(w, "label", "sdoh-bridge rules " + p.ruleset.id() + " " + p.ruleset.version());
  w.EndObject();

  // Every value in the markdown detail is escaped (issue 13 #13: an id rendered as a link).
  std::string detail = "**Need:** " + EscapeMarkdown(flag.need) + " (" +
                       (flag.possible ? "possible" : "confirmed") + ")\n\n**Evidence**\n\n";
  for (const auto& [ref, version] : flag.evidence) {
    detail += "- " + EscapeMarkdown(ref) +
              (version.empty() ? "" : " (version " + EscapeMarkdown(version) + ")") + "\n";
  }
  detail += "\n**Rules**\n\n";
  for (const auto& r : flag.rules) detail += "- " + EscapeMarkdown(r) + "\n";
  detail += "\n**Why**\n\n";
  for (const auto& y : flag.why) detail += "- " + EscapeMarkdown(y) + "\n";

  const PlannedResource* sr = nullptr;
  for (const auto& r : plan.resources) {
    if (r.type == "ServiceRequest") sr = &r;
  }
  if (already_open && sr) {
    detail +=
        "\nAn open referral (ServiceRequest) for this domain already exists; no new "
        "referral is suggested.\n";
  } else if (!sr && !plan.declined_reason.empty()) {
    detail += "\nNo referral is suggested: a referral was declined (" +
              EscapeMarkdown(plan.declined_reason) + ") on " +
              fhir::FormatInstantUtc(plan.declined_at).substr(0, 10) +
              "; not suggested again before " +
              fhir::FormatInstantUtc(plan.declined_until).substr(0, 10) + ".\n";
  } else if (!sr) {
    detail += "\nNo referral is suggested: " +
              (plan.not_planned.empty() ? std::string("the route creates no ServiceRequest")
                                        : EscapeMarkdown(plan.not_planned)) +
              ".\n";
  }
  Str(w, "detail", detail);

  if (sr && !already_open) {
    w.Key("suggestions");
    w.StartArray();
    w.StartObject();
    std::string what = def && !def->service_text.empty()
                           ? def->service_text
                           : (def ? def->service.display : std::string());
    Str(w, "label", "Create referral" + (what.empty() ? std::string() : ": " + what));
    const std::string suggestion_uuid = Uuid();
    issued->suggestion_uuids.push_back(suggestion_uuid);
    Str(w, "uuid", suggestion_uuid);
    w.Key("isRecommended");
    w.Bool(!flag.possible);
    w.Key("actions");
    w.StartArray();
    w.StartObject();
    Str(w, "type", "create");
    Str(w, "description", "Create ServiceRequest " + sr->identifier);
    w.Key("resource");
    const std::string resource =
        IsPractitioner(call.user_id) ? WithRequester(sr->json, call.user_id) : sr->json;
    w.RawValue(resource.data(), resource.size(), rapidjson::kObjectType);
    w.EndObject();
    w.EndArray();
    w.EndObject();
    w.EndArray();
    Str(w, "selectionBehavior", "at-most-one");
    w.Key("overrideReasons");
    w.StartArray();
    const std::pair<const char*, const char*> reasons[] = {
        {"patient-declined", "Patient declined referral"},
        {"already-addressed", "Need already addressed elsewhere"},
        {"not-clinically-appropriate", "Not appropriate at this time"}};
    for (const auto& [code, display] : reasons) {
      w.StartObject();
      Str(w, "system", "urn:sdoh-bridge:cds-override-reason");
      Str(w, "code", code);
      Str(w, "display", display);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

std::string EscapeMarkdown(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      out += ' ';
    } else if (std::string_view("\\`*_{}[]()<>#+!|~:&=").find(c) != std::string_view::npos) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

// The LOINC codes a screening Observation can carry: every instrument's panel codes, then its
// question codes (standalone items, issue 14 item 4), each once, from mappings/instruments/.
std::string ScreeningObservationCodes(const Catalog& catalog) {
  std::vector<std::string> codes;
  auto add = [&](std::string_view code) {
    if (!code.empty() && std::find(codes.begin(), codes.end(), code) == codes.end()) {
      codes.emplace_back(code);
    }
  };
  for (const Instrument& i : catalog.instruments()) {
    for (const std::string& c : i.panel_codes) add(c);
  }
  for (const Instrument& i : catalog.instruments()) {
    for (CodeId q : i.questions) add(catalog.codes().Name(q));
  }
  std::string out;
  for (const std::string& c : codes) out += (out.empty() ? "" : ",") + ("http://loinc.org|" + c);
  return out;
}

std::string DiscoveryJson(const std::string& service_id, const Catalog& catalog) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("services");
  w.StartArray();
  w.StartObject();
  Str(w, "hook", "patient-view");
  Str(w, "id", service_id);
  Str(w, "title", "SDOH needs and referrals");
  Str(w, "description",
      "Flags social needs from completed SDOH screenings (AHC HRSN, Hunger Vital Sign, PRAPARE) "
      "and suggests an SDOH Clinical Care referral for each, with its evidence.");
  w.Key("prefetch");
  w.StartObject();
  Str(w, "patient", "Patient/{{context.patientId}}");
  Str(w, "qr", "QuestionnaireResponse?subject=Patient/{{context.patientId}}");
  Str(w, "obs",
      "Observation?subject=Patient/{{context.patientId}}&code=" +
          ScreeningObservationCodes(catalog) + "&_include:iterate=Observation:has-member");
  Str(w, "openReferrals",
      "ServiceRequest?subject=Patient/{{context.patientId}}&status=draft,active,on-hold");
  w.EndObject();
  Str(w, "usageRequirements",
      "Prefetch keys the EHR cannot satisfy are read from fhirServer with fhirAuthorization "
      "(an allow-listed server); without either the call is answered 412.");
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return sb.GetString();
}

std::vector<std::string> HookCall::Missing() const {
  std::vector<std::string> out;
  if (!patient) out.push_back("patient");
  if (!qr) out.push_back("qr");
  if (!obs) out.push_back("obs");
  if (!open) out.push_back("openReferrals");
  if (obs && !MissingMembers().empty()) out.push_back("obs.hasMember");
  return out;
}

std::vector<std::string> HookCall::MissingMembers() const {
  std::set<std::string> present, named;
  auto visit = [&](const rapidjson::Value& r) {
    if (GetStr(r, "resourceType") != "Observation") return;
    present.insert("Observation/" + GetStr(r, "id"));
    auto hm = r.FindMember("hasMember");
    if (hm == r.MemberEnd() || !hm->value.IsArray()) return;
    for (const auto& m : hm->value.GetArray()) {
      std::string ref = GetStr(m, "reference");
      size_t at = ref.rfind("Observation/");  // absolute or relative, no _history
      if (at == std::string::npos) continue;
      ref = ref.substr(at);
      ref = ref.substr(0, ref.find("/_history"));
      named.insert(ref);
    }
  };
  if (obs) ForEachEntry(*obs, visit);
  for (const rapidjson::Value* m : members) visit(*m);
  std::vector<std::string> out;
  for (const auto& ref : named) {
    if (!present.count(ref)) out.push_back(ref);
  }
  return out;
}

bool ParsePatientView(const std::string& body, HookCall* call, CdsResult* error) {
  auto doc = std::make_shared<rapidjson::Document>();
  // Iterative and depth-limited: a deeply nested body must not overflow the stack (issue 7).
  if (fhir::json::ParseDocument(body, fhir::json::kNetworkMaxDepth, doc.get()) !=
          fhir::json::ParseFailure::kNone ||
      !doc->IsObject()) {
    *error = {400, ErrorJson("request body: expected a JSON object"), {}, {}};
    return false;
  }
  if (GetStr(*doc, "hook") != "patient-view") {
    *error = {400, ErrorJson("request body: `hook` must be patient-view"), {}, {}};
    return false;
  }
  auto ctx_it = doc->FindMember("context");
  call->patient_id =
      ctx_it != doc->MemberEnd() ? GetStr(ctx_it->value, "patientId") : std::string();
  call->user_id = ctx_it != doc->MemberEnd() ? GetStr(ctx_it->value, "userId") : std::string();
  if (call->patient_id.empty()) {
    *error = {400, ErrorJson("context.patientId is required"), {}, {}};
    return false;
  }
  call->fhir_server = GetStr(*doc, "fhirServer");
  auto auth_it = doc->FindMember("fhirAuthorization");
  if (auth_it != doc->MemberEnd() && auth_it->value.IsObject()) {
    call->access_token = GetStr(auth_it->value, "access_token");
  }
  auto pre_it = doc->FindMember("prefetch");
  if (pre_it != doc->MemberEnd() && pre_it->value.IsObject()) {
    call->patient = Prefetched(pre_it->value, "patient", "Patient");
    call->qr = Prefetched(pre_it->value, "qr", "Bundle");
    call->obs = Prefetched(pre_it->value, "obs", "Bundle");
    call->open = Prefetched(pre_it->value, "openReferrals", "Bundle");
  }
  if (call->patient && GetStr(*call->patient, "id") != call->patient_id) {
    *error = {400, ErrorJson("prefetch.patient: id does not match context.patientId"), {}, {}};
    return false;
  }
  call->request = std::move(doc);
  return true;
}

CdsResult EvaluatePatientView(const Pipeline& p, const HookCall& call, fhir::InstantMicros now,
                              const CardOptions& options, const Declines* declines) {
  if (!call.Missing().empty()) {
    std::string m = call.fhir_server.empty()
                        ? "prefetch incomplete (patient, qr, obs, openReferrals required) and "
                          "no fhirServer"
                        : "prefetch incomplete (patient, qr, obs, openReferrals required)";
    if (call.obs && !call.MissingMembers().empty()) {
      // Issue 14 item 6: a panel whose members are not all there would give "no needs".
      m = "prefetch incomplete: " + std::to_string(call.MissingMembers().size()) +
          " Observation(s) named in hasMember are missing (prefetch obs with "
          "_include:iterate=Observation:has-member, or allow fetching from fhirServer)";
    }
    return {412, ErrorJson(m), {}, {}};
  }
  if (GetStr(*call.patient, "id") != call.patient_id) {
    return {400, ErrorJson("prefetch.patient: id does not match context.patientId"), {}, {}};
  }
  const std::string& patient_id = call.patient_id;
  // The prefetch as a store, through the one evaluation `run` uses. The pipeline is shared and
  // immutable: this call's codes and Questionnaires live in its own pass and die with it.
  fhir::MemoryStore store("prefetch");
  store.Add(*call.patient, "prefetch.patient", 1);
  uint64_t position = 0;
  for (const rapidjson::Value* q : call.questionnaires) {
    store.Add(*q, "fhirServer.Questionnaire", ++position);
  }
  // The patient is prefetch.patient; Patient entries in the bundles (e.g. included) are not.
  for (const auto& [origin, bundle] :
       {std::pair{"prefetch.qr", call.qr}, std::pair{"prefetch.obs", call.obs}}) {
    uint64_t entry = 0;
    ForEachEntry(*bundle, [&, origin = origin](const rapidjson::Value& r) {
      ++entry;
      if (GetStr(r, "resourceType") != "Patient") store.Add(r, origin, entry);
    });
  }
  // Panel members the service read from fhirServer (the prefetch lacked them).
  position = 0;
  for (const rapidjson::Value* m : call.members) {
    store.Add(*m, "fhirServer.Observation", ++position);
  }
  PassOptions po;
  po.now = now;
  po.only_patient = patient_id;
  po.local_bases = {call.fhir_server};  // the calling EHR's own absolute subjects (issue 13 #7)
  po.declines = declines;
  struct Cards : PassSink {
    void OnPatient(PatientResult& r) override {
      flags = std::move(r.flags);
      plans = std::move(r.plans);
    }
    std::vector<NeedFlag> flags;
    std::vector<ReferralPlan> plans;
  } evaluated;
  (void)EvaluatePass(p, store, po, evaluated);  // a memory store always reads

  std::set<std::string> open_domains = OpenReferralDomains(*call.open);
  CdsResult result;
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("cards");
  w.StartArray();
  const std::string viewer_type = call.user_id.substr(0, call.user_id.find('/'));
  bool hide_sensitive = false;
  for (const auto& t : options.hide_sensitive_from) hide_sensitive |= t == viewer_type;
  for (size_t i = 0; i < evaluated.flags.size(); ++i) {
    const NeedFlag& f = evaluated.flags[i];
    const ReferralPlan& plan = evaluated.plans[i];
    // Issue 14 item 6: a patient or a relative looking gets no card that reveals a sensitive
    // need (the safety screen); the care team still sees it.
    if (hide_sensitive && f.def && f.def->sensitive) continue;
    bool already_open = f.def && !f.def->domain.code.empty() &&
                        (open_domains.count(f.def->domain.system + "|" + f.def->domain.code) ||
                         open_domains.count("|" + f.def->domain.code));
    IssuedCard issued{patient_id, f.need, {}, call.fhir_server};
    std::string uuid;
    WriteCard(w, p, call, f, plan, already_open, &issued, &uuid);
    result.needs.push_back(f.need);
    result.issued.emplace_back(std::move(uuid), std::move(issued));
  }
  w.EndArray();
  w.EndObject();
  result.body = sb.GetString();
  return result;
}

CdsResult EvaluatePatientView(const Pipeline& p, const std::string& body, fhir::InstantMicros now,
                              const CardOptions& options) {
  HookCall call;
  CdsResult error;
  if (!ParsePatientView(body, &call, &error)) return error;
  return EvaluatePatientView(p, call, now, options);
}

}  // namespace sdoh::service
