// ServerWriteback::FindConsent: the active Consent a route with `consent: required` asks for
// (issue 14 item 2), read from the server.
#include "fhir/json.h"
#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback::internal {

std::string ServerWriteback::FindConsent(const std::string& patient, const RouteConfig& route) {
  auto found = SearchAll("Consent", {{"patient", "Patient/" + patient},
                                     {"status", "active"},
                                     {"category", route.consent_category}});
  if (!found.ok()) {
    Error("Patient/" + patient + ": reading Consent failed: HTTP " +
          std::to_string(found.error().http_status));
    return "";
  }
  auto matches = [](const rapidjson::Value& codings, const std::string& want) {
    if (!codings.IsArray()) return false;
    for (const auto& c : codings.GetArray()) {
      std::string sys(fhir::json::StrMember(c, "system"));
      std::string code(fhir::json::StrMember(c, "code"));
      if (sys + "|" + code == want) return true;
    }
    return false;
  };
  for (const ServerResource& c : found.value()) {
    if (c.status != "active") continue;
    rapidjson::Document d;
    d.Parse(c.json.c_str());
    if (d.HasParseError() || !d.IsObject()) continue;
    const rapidjson::Value* subject = fhir::json::Member(d, "patient");
    if (subject == nullptr ||
        fhir::json::StrMember(*subject, "reference") != "Patient/" + patient) {
      continue;
    }
    bool category = false;
    if (const rapidjson::Value* cats = fhir::json::ArrayMember(d, "category")) {
      for (const auto& cc : cats->GetArray()) {
        if (const rapidjson::Value* codings = fhir::json::ArrayMember(cc, "coding")) {
          category |= matches(*codings, route.consent_category);
        }
      }
    }
    if (!category) continue;
    if (!route.consent_policy.empty()) {
      bool policy = false;
      if (const rapidjson::Value* ps = fhir::json::ArrayMember(d, "policy")) {
        for (const auto& p : ps->GetArray()) {
          policy |= fhir::json::StrMember(p, "uri") == route.consent_policy;
        }
      }
      if (const rapidjson::Value* rule = fhir::json::Member(d, "policyRule")) {
        if (const rapidjson::Value* codings = fhir::json::ArrayMember(*rule, "coding")) {
          policy |= matches(*codings, route.consent_policy);
        }
      }
      if (!policy) continue;
    }
    return c.Reference();
  }
  return "";
}

}  // namespace sdoh::writeback::internal
