// Closing the loop (issue 15 item 1), the pure part: what one of our referral Tasks, as the
// server now holds it, means for the care team — a status transition to record, a follow-up
// Task for the route's care-management owner (bounced or stalled), our ServiceRequest to
// complete — and the follow-up Task itself. No I/O; plugin/writeback/server_writeback_loop.cc
// reads the Tasks, keeps the ledger and writes.
//
// Policy:
//  - rejected / failed / cancelled by someone else (not retracted by us) while our
//    ServiceRequest is still open (the need is still positive: a need that went away has its
//    referral retracted by the pass): one follow-up "<status>";
//  - `requested` for longer than referrals.accept_within_days since authoredOn, or accepted /
//    in-progress (received, ready, on-hold too) without a status change for longer than
//    referrals.complete_within_days: one follow-up "stalled-<status>";
//  - completed: the ServiceRequest is set completed when the performer left it open.
// One follow-up per (Task, kind) ever (its identifier is FollowUpIdentifier(task, kind)), so
// a stalled referral gets no second reminder while — or after — the first is open.
#pragma once

#include <string>

#include <rapidjson/document.h>

#include "fhir/datetime.h"
#include "plugin/setup/config.h"

namespace sdoh {

// One of our referral Tasks as read from the server.
struct LoopTask {
  std::string identifier;  // our business identifier value
  std::string id;
  std::string version;
  std::string status;
  std::string status_reason;  // statusReason.text, else its first coding's display or code
  std::string owner;          // Task.owner reference (the performer)
  std::string patient;        // from Task.for
  std::string focus;          // Task.focus reference (our ServiceRequest)
  std::string output;         // Task.output values: references or system|code, comma-separated
  std::string authored;       // Task.authoredOn
  std::string last_updated;   // meta.lastUpdated
};

// Reads a Task resource's loop fields (identifier under `identifier_system`).
LoopTask ReadLoopTask(const std::string& task_json, const std::string& identifier_system);
// Task.statusReason: its text, else the first coding's display or code ("" when none).
std::string StatusReasonOf(const rapidjson::Value& task);

struct LoopDecision {
  std::string follow_up_kind;  // "" = none
  bool complete_service_request = false;
};

// `status_since`: when the Task got its current status (the ledger's record, else its
// meta.lastUpdated). `referral_open`: our ServiceRequest is still open and neither it nor the
// Task was retracted by us. `service_request_status`: as on the server ("" unknown).
LoopDecision DecideLoop(const LoopTask& task, fhir::InstantMicros status_since, bool referral_open,
                        const std::string& service_request_status, fhir::InstantMicros now,
                        const LoopConfig& config);

bool IsBounced(const std::string& task_status);  // rejected | failed | cancelled
// An open Task status that waits for the performer to accept (requested, received, ready).
bool AwaitsAcceptance(const std::string& task_status);

// The follow-up Task (SDOHCC-style Task, intent order, status requested) for the care manager:
// description "Referral declined by <performer>: <reason> — choose another service or contact
// the patient" (or the stalled wording), focus the referral Task, for the patient, owner the
// route's care_manager (else its requester), requester the route's requester.
std::string BuildFollowUpTask(const LoopTask& task, const std::string& kind,
                              const std::string& follow_up_identifier, const RouteConfig& route,
                              const std::string& identifier_system, fhir::InstantMicros now);

}  // namespace sdoh
