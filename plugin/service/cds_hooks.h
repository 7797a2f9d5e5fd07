// CDS Hooks patient-view (sdoh-codes.md §9), pure: the discovery document, and a hook call's
// prefetch → cards, on the same screening + rules + referral planning as `run`. No I/O.
#pragma once

#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/pipeline.h"

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

// Evaluates one hook call body. REQUIRES `pipeline` loaded. Not thread-safe with respect to
// the pipeline's catalog (callers serialise; see ServiceApp).
CdsResult EvaluatePatientView(const Pipeline& pipeline, const std::string& body,
                              fhir::InstantMicros now);

// Parses a feedback body; the outcomes (accepted | overridden) of its entries, or an error.
fhir::Result<std::vector<std::string>> FeedbackOutcomes(const std::string& body);

}  // namespace sdoh::service
