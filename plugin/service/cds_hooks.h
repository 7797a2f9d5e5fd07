// CDS Hooks patient-view (sdoh-codes.md §9), pure: the discovery document, and a hook call's
// prefetch → cards, on the same screening + rules + referral planning as `run`. No I/O (what
// the prefetch lacks is fetched by prefetch_fetcher.h and handed back in a HookCall).
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/setup/pipeline.h"

namespace sdoh::service {

inline constexpr const char* kPatientViewServiceId = "sdoh-bridge-patient-view";

// {"services":[...]}: one patient-view service with the prefetch templates
// patient, qr, obs (the four screening panels with their members) and openReferrals.
std::string DiscoveryJson(const std::string& service_id);

struct CdsResult {
  int status = 200;                // 200, 400 (bad request) or 412 (prefetch missing)
  std::string body;                // {"cards":[...]} or {"error":...}
  std::vector<std::string> needs;  // one per card returned
};

// One parsed patient-view call. The four prefetch values point into `request` or into
// `fetched` (documents the service fetched itself); null = not available yet.
struct HookCall {
  std::shared_ptr<rapidjson::Document> request;
  std::string patient_id;
  std::string fhir_server;   // "" when the call named none
  std::string access_token;  // fhirAuthorization.access_token ("" when none); never logged
  const rapidjson::Value* patient = nullptr;  // a Patient
  const rapidjson::Value* qr = nullptr;       // a Bundle (QRs, optionally Questionnaires)
  const rapidjson::Value* obs = nullptr;      // a Bundle (panels and members)
  const rapidjson::Value* open = nullptr;     // a Bundle (ServiceRequests)
  std::vector<std::unique_ptr<rapidjson::Document>> fetched;
  // Questionnaires fetched for the QRs' canonicals (linkId → LOINC), fed before the QRs.
  std::vector<const rapidjson::Value*> questionnaires;

  // Prefetch keys still missing ("patient", "qr", "obs", "openReferrals").
  std::vector<std::string> Missing() const;
};

// Parses a hook call body. False with `*error` (400) on a malformed call.
bool ParsePatientView(const std::string& body, HookCall* call, CdsResult* error);

// Cards for a parsed call; 412 when a prefetch value is still missing. Thread-safe: the
// pipeline is const and shared; what the call brings (answer codes, Questionnaires) lives in
// the call's own PassCatalog and never changes what another call sees.
CdsResult EvaluatePatientView(const Pipeline& pipeline, const HookCall& call,
                              fhir::InstantMicros now);

// Parse + evaluate from the prefetch alone (412 when it is incomplete).
CdsResult EvaluatePatientView(const Pipeline& pipeline, const std::string& body,
                              fhir::InstantMicros now);

// Parses a feedback body; the outcomes (accepted | overridden) of its entries, or an error.
fhir::Result<std::vector<std::string>> FeedbackOutcomes(const std::string& body);

}  // namespace sdoh::service
