#include "plugin/commands/outreach_writer.h"

#include <ostream>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "fhir/json.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/setup/fhir_section.h"

namespace sdoh {

namespace {

constexpr const char* kSdcTemp = "http://hl7.org/fhir/uv/sdc/CodeSystem/temp";
constexpr const char* kSdohccTemp =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";
constexpr const char* kProfile =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForPatient";

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void Concept(Writer& w, const char* system, const std::string& code) {
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  w.StartObject();
  w.Key("system");
  w.String(system);
  w.Key("code");
  Str(w, code);
  w.EndObject();
  w.EndArray();
  w.EndObject();
}
void Ref(Writer& w, const char* key, const std::string& reference) {
  w.Key(key);
  w.StartObject();
  w.Key("reference");
  Str(w, reference);
  w.EndObject();
}

bool IsOpen(std::string_view status) {
  for (std::string_view s :
       {"draft", "requested", "received", "accepted", "ready", "on-hold", "in-progress"}) {
    if (status == s) return true;
  }
  return false;
}

// Our open outreach Tasks that are not in `keep`, withdrawn. Returns the failures.
int Withdraw(fhir::client::FhirClient& fhir, const Config& config,
             const std::set<std::string>& keep, int* withdrawn, std::ostream& err) {
  int failed = 0;
  auto pager = fhir.Pages("Task", {{"identifier", config.identifier_system + "|"},
                                   {"code", std::string(kSdcTemp) + "|complete-questionnaire"},
                                   {"_count", "200"}});
  std::vector<std::pair<std::string, std::string>> stale;  // (id, resource JSON)
  while (true) {
    auto more = pager.Next();
    if (!more.ok()) {
      err << "sdoh-bridge: outreach --write: searching our outreach Tasks failed: "
          << more.error().ToString() << "\n";
      return failed + 1;
    }
    if (!more.value()) break;
    const rapidjson::Value* entries = fhir::json::ArrayMember(pager.page(), "entry");
    if (entries == nullptr) continue;
    for (const auto& e : entries->GetArray()) {
      const rapidjson::Value* r = fhir::json::Member(e, "resource");
      if (r == nullptr || !IsOpen(fhir::json::StrMember(*r, "status"))) continue;
      std::string value;
      if (const rapidjson::Value* ids = fhir::json::ArrayMember(*r, "identifier")) {
        for (const auto& id : ids->GetArray()) {
          if (fhir::json::StrMember(id, "system") == config.identifier_system) {
            value = std::string(fhir::json::StrMember(id, "value"));
          }
        }
      }
      if (value.rfind("outreach-", 0) != 0 || keep.count(value) != 0) continue;
      rapidjson::StringBuffer sb;
      Writer w(sb);
      r->Accept(w);
      stale.emplace_back(std::string(fhir::json::StrMember(*r, "id")), sb.GetString());
    }
  }
  for (const auto& [id, json] : stale) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    auto& a = d.GetAllocator();
    std::string version;
    if (const rapidjson::Value* meta = fhir::json::Member(d, "meta")) {
      version = std::string(fhir::json::StrMember(*meta, "versionId"));
    }
    d.RemoveMember("status");
    d.AddMember("status", "cancelled", a);
    d.RemoveMember("statusReason");
    rapidjson::Value reason(rapidjson::kObjectType);
    reason.AddMember("text", "No longer due: a screening arrived, or the patient is not active", a);
    d.AddMember("statusReason", reason, a);
    rapidjson::StringBuffer sb;
    Writer w(sb);
    d.Accept(w);
    auto put = fhir.Update("Task", id, sb.GetString(), version);
    if (!put.ok()) {
      err << "sdoh-bridge: outreach --write: withdrawing Task/" << id
          << " failed: " << put.error().ToString() << "\n";
      ++failed;
      continue;
    }
    ++*withdrawn;
  }
  return failed;
}

}  // namespace

std::string OutreachTaskJson(const Config& config, const OutreachDue& due,
                             const std::string& identifier, fhir::InstantMicros now) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Task");
  w.Key("meta");
  w.StartObject();
  w.Key("profile");
  w.StartArray();
  w.String(kProfile);
  w.EndArray();
  w.EndObject();
  w.Key("identifier");
  w.StartArray();
  w.StartObject();
  w.Key("system");
  Str(w, config.identifier_system);
  w.Key("value");
  Str(w, identifier);
  w.EndObject();
  w.EndArray();
  w.Key("status");
  w.String("requested");
  w.Key("intent");
  w.String("order");
  w.Key("priority");
  w.String("routine");
  w.Key("code");
  Concept(w, kSdcTemp, "complete-questionnaire");
  w.Key("description");
  w.String("Please complete the social needs screening questionnaire");
  Ref(w, "for", "Patient/" + due.patient);
  w.Key("authoredOn");
  Str(w, fhir::FormatInstantUtc(now));
  if (!config.outreach.requester.empty()) Ref(w, "requester", config.outreach.requester);
  Ref(w, "owner", "Patient/" + due.patient);
  w.Key("input");
  w.StartArray();
  w.StartObject();
  w.Key("type");
  Concept(w, kSdcTemp, "questionnaire");
  w.Key("valueCanonical");
  Str(w, config.outreach.questionnaire);
  w.EndObject();
  w.StartObject();
  w.Key("type");
  Concept(w, kSdohccTemp, "questionnaire-category");
  w.Key("valueCodeableConcept");
  Concept(w, kSdohccTemp, config.outreach.questionnaire_category);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

int WriteOutreachTasks(const Config& config, const std::vector<OutreachDue>& due,
                       fhir::InstantMicros now, std::ostream& err) {
  if (config.outreach.questionnaire.empty()) {
    err << "sdoh-bridge: outreach --write needs outreach.questionnaire (the canonical of the "
           "form the patient Task asks for) in "
        << config.path << "\n";
    return 2;
  }
  auto client = BuildServerClient(config, err);
  if (!client) return 2;
  std::set<std::string> keep;
  int created = 0, found = 0, failed = 0, withdrawn = 0;
  for (const OutreachDue& d : due) {
    const std::string id = OutreachTaskIdentifier(d.patient, d.last_screened);
    keep.insert(id);
    auto res = client->fhir->ConditionalCreate("Task", OutreachTaskJson(config, d, id, now),
                                               "identifier=" + config.identifier_system + "|" + id);
    if (!res.ok()) {
      err << "sdoh-bridge: outreach --write: the Task for Patient/" << d.patient
          << " failed: " << res.error().ToString() << "\n";
      ++failed;
      continue;
    }
    ++(res->status == 201 ? created : found);
  }
  failed += Withdraw(*client->fhir, config, keep, &withdrawn, err);
  err << "outreach --write: " << created << " patient Task(s) created, " << found
      << " already there, " << withdrawn << " withdrawn, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace sdoh
