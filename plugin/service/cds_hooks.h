// CDS Hooks patient-view (sdoh-codes.md §9), pure: the discovery document, and a hook call's
// prefetch → cards, on the same screening + rules + referral planning as `run`. No I/O (what
// the prefetch lacks is fetched by prefetch_fetcher.h and handed back in a HookCall).
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/referrals/declines.h"
#include "plugin/service/feedback.h"
#include "plugin/setup/pipeline.h"

namespace sdoh::service {

inline constexpr const char* kPatientViewServiceId = "sdoh-bridge-patient-view";

// {"services":[...]}: one patient-view service with the prefetch templates patient, qr, obs
// (the catalog's screening panels with their members at any depth, and its question codes for
// standalone items) and openReferrals.
std::string DiscoveryJson(const std::string& service_id, const Catalog& catalog);

struct CdsResult {
  int status = 200;                // 200, 400 (bad request) or 412 (prefetch missing)
  std::string body;                // {"cards":[...]} or {"error":...}
  std::vector<std::string> needs;  // one per card returned
  std::vector<std::pair<std::string, IssuedCard>> issued;  // card uuid → what it was about
};

// Who sees the cards (issue 14 item 6). A viewer (`context.userId`) whose resource type is in
// `hide_sensitive_from` gets no card for a sensitive need (NeedDef.sensitive).
struct CardOptions {
  std::vector<std::string> hide_sensitive_from = {"Patient", "RelatedPerson"};
};

// One parsed patient-view call. The four prefetch values point into `request` or into
// `fetched` (documents the service fetched itself); null = not available yet.
struct HookCall {
  std::shared_ptr<rapidjson::Document> request;
  std::string patient_id;
  std::string user_id;       // context.userId ("Practitioner/1", "RelatedPerson/2", or "")
  std::string fhir_server;   // "" when the call named none
  std::string access_token;  // fhirAuthorization.access_token ("" when none); never logged
  const rapidjson::Value* patient = nullptr;  // a Patient
  const rapidjson::Value* qr = nullptr;       // a Bundle (QRs, optionally Questionnaires)
  const rapidjson::Value* obs = nullptr;      // a Bundle (panels and members)
  const rapidjson::Value* open = nullptr;     // a Bundle (ServiceRequests)
  std::vector<std::unique_ptr<rapidjson::Document>> fetched;
  // Questionnaires fetched for the QRs' canonicals (linkId → LOINC), fed before the QRs.
  std::vector<const rapidjson::Value*> questionnaires;
  // Observations fetched because a panel or group in `obs` names them in hasMember.
  std::vector<const rapidjson::Value*> members;

  // Prefetch keys still missing ("patient", "qr", "obs", "openReferrals", and
  // "obs.hasMember" while a member is missing).
  std::vector<std::string> Missing() const;
  // "Observation/<id>" named in a hasMember of `obs` or `members` but in neither (members of
  // members too: PRAPARE is panel → group → item).
  std::vector<std::string> MissingMembers() const;
};

// Parses a hook call body. False with `*error` (400) on a malformed call.
bool ParsePatientView(const std::string& body, HookCall* call, CdsResult* error);

// Cards for a parsed call; 412 when a prefetch value is still missing. Thread-safe: the
// pipeline is const and shared; what the call brings (answer codes, Questionnaires) lives in
// the call's own PassCatalog and never changes what another call sees.
// A panel member still missing is 412 too: never an incomplete "no needs" answer.
// `declines`: referrals declined through feedback for this patient (issue 14 item 7): their
// cards say so and suggest no referral.
CdsResult EvaluatePatientView(const Pipeline& pipeline, const HookCall& call,
                              fhir::InstantMicros now, const CardOptions& options = {},
                              const Declines* declines = nullptr);

// Parse + evaluate from the prefetch alone (412 when it is incomplete).
CdsResult EvaluatePatientView(const Pipeline& pipeline, const std::string& body,
                              fhir::InstantMicros now, const CardOptions& options = {});

// Markdown-escaped `text` for a card's detail: ASCII punctuation that CommonMark/GFM gives a
// meaning (links, emphasis, code, HTML, headings, tables) is backslash-escaped, and line
// breaks become spaces, so an id or value can never render as a link or break the layout.
std::string EscapeMarkdown(std::string_view text);

}  // namespace sdoh::service
