// Writeback decisions (pure; issue 5): what the server already holds for a patient, read
// into ServerResource, and the suppression policy that decides per (patient, need) whether
// to create a referral, whether it already exists, or why it is suppressed; whether a chart
// Flag is created, left alone or updated. No I/O.
//
// Policy (config `writeback.suppression_days`, default 30):
//  - our ServiceRequest (same identifier) exists on the server → nothing to create;
//  - an open ServiceRequest (draft, active, on-hold) of the same SDOHCC domain category for the
//    patient, whoever wrote it → suppressed;
//  - an open Task (draft, requested, received, accepted, ready, in-progress, on-hold) whose
//    focus is a ServiceRequest of that category → suppressed;
//  - after a closed one (ServiceRequest completed/revoked; Task completed, rejected, failed,
//    cancelled): re-refer only when the screening is newer than that referral and at least
//    N days have passed since its last status change (meta.lastUpdated).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/datetime.h"

namespace sdoh::writeback {

struct ServerResource {
  std::string type;
  std::string id;
  std::string version;
  std::string status;
  std::string identifier;  // value under our identifier system; "" when it has none
  fhir::InstantMicros last_updated = 0;
  std::optional<fhir::InstantMicros> authored;  // authoredOn
  std::vector<std::string> categories;          // every category coding code (ServiceRequest)
  std::string focus;                            // Task: "ServiceRequest/<id>"
  std::string subject;                          // subject (Task: for), "Patient/<id>"
  std::vector<std::string> evidence;            // reasonReference + supportingInfo references
  std::string json;                             // the resource as read
  std::string Reference() const { return type + "/" + id; }
};

ServerResource ParseServerResource(const rapidjson::Value& resource,
                                   const std::string& identifier_system);

bool IsOpenServiceRequest(const std::string& status);
bool IsClosedServiceRequest(const std::string& status);
bool IsOpenTask(const std::string& status);
bool IsClosedTask(const std::string& status);

enum class ReferralAction {
  kCreate,      // ServiceRequest (+ Task) to create
  kExists,      // ours is on the server already (Task too, when planned)
  kCreateTask,  // ours is there but its planned Task is missing
  kSuppressed,  // policy: see reason
};

struct ReferralDecision {
  ReferralAction action = ReferralAction::kCreate;
  std::string reason;       // token + references, e.g. "open-referral ServiceRequest/12"
  std::string existing_sr;  // "ServiceRequest/<id>" for kExists / kCreateTask
};

struct ReferralQuery {
  std::string sr_identifier;
  std::string task_identifier;  // "" when no Task is planned
  std::string domain_code;      // SDOHCC category code of the need
  std::optional<fhir::InstantMicros> screened_at;
  fhir::InstantMicros now = 0;
  int suppression_days = 30;
};

ReferralDecision DecideReferral(const ReferralQuery& q, const std::vector<ServerResource>& srs,
                                const std::vector<ServerResource>& tasks);

enum class FlagAction { kCreate, kUnchanged, kUpdate, kRetracted };

// `existing`: the server's Flag with the planned identifier, or null. A Flag marked
// entered-in-error (retracted) is left alone.
FlagAction DecideFlag(const std::string& planned_json, const ServerResource* existing);

// Issue 13: why `r`, as read from the server, is not the resource the ledger recorded as
// (`identifier` under our system, subject Patient/`patient`) — "" when it is. Anything else
// is someone else's resource (another server's ids, a reused id) and must not be changed.
std::string NotAsRecorded(const ServerResource& r, const std::string& identifier,
                          const std::string& patient);

// Issue 13: a resource sdoh-bridge never changes, whoever closed it: a ServiceRequest
// completed, revoked or entered-in-error; a Task completed, cancelled, failed, rejected or
// entered-in-error; a Flag entered-in-error.
bool IsFinal(const ServerResource& r);

// `resource_json` with "status" set to `status` (and "id" to `id` when non-empty): for PUTs.
std::string WithStatus(const std::string& resource_json, const std::string& status,
                       const std::string& id = "");
// A Task cancelled with a reason: status "cancelled" and statusReason.text = `reason`.
std::string CancelledTask(const std::string& task_json, const std::string& reason);
// A Flag made inactive: status "inactive" and period.end = `end` (a FHIR dateTime).
std::string InactiveFlag(const std::string& flag_json, const std::string& end);

}  // namespace sdoh::writeback
