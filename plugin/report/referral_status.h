// The referrals sdoh-bridge made, as a FHIR server holds them now: ServiceRequests and Tasks
// with an identifier of ours under `referrals.identifier_system` (plugin/referrals/identifiers.h,
// either format), read by a ResourceVisitor, then turned
// into one status per referral (the Task's when it has a live one, else the ServiceRequest's)
// and the days it has been open. Ids and patient references stay in here and in the report
// command's join; the report model sees only need, status and days.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/datetime.h"
#include "fhir/store.h"
#include "plugin/report/report_model.h"
#include "plugin/setup/catalog.h"
#include "plugin/setup/config.h"

namespace sdoh::report {

// Task.status → report status: draft, requested, received, ready, on-hold → open; accepted,
// in-progress → accepted; completed; rejected; cancelled, failed → cancelled. entered-in-error
// and anything else: none (the Task is not counted).
std::optional<ReferralStatus> StatusOfTask(std::string_view status);
// ServiceRequest.status (used when there is no live Task, e.g. the interpreter route): draft,
// active, on-hold → open; completed; revoked → cancelled; else none.
std::optional<ReferralStatus> StatusOfServiceRequest(std::string_view status);

// What the ledger recorded of one of our referral Tasks (loop_transitions): when it first went
// accepted, in-progress or completed, and when it went completed (meta.lastUpdated of the
// version that brought the status, as the loop saw it).
struct TaskHistory {
  std::optional<fhir::InstantMicros> accepted;
  std::optional<fhir::InstantMicros> completed;
};

// How the loop fields of ReferralRow are judged: the stall thresholds and the ledger's history
// by the Task's business identifier value (may be null: no ledger).
struct FunnelInputs {
  LoopConfig loop;
  const std::map<std::string, TaskHistory>* history = nullptr;
};

class ReferralReader : public fhir::ResourceVisitor {
 public:
  // REQUIRES: identifier_system non-empty; `catalog` outlives the reader.
  ReferralReader(std::string identifier_system, fhir::TimeZone tz, const Catalog& catalog)
      : system_(std::move(identifier_system)), tz_(std::move(tz)), catalog_(&catalog) {}

  void OnResource(std::string_view expected_type, const rapidjson::Value& resource,
                  const fhir::SourceLocation& where) override;
  void OnUnreadable(std::string_view, const fhir::SourceLocation&, std::string_view,
                    const std::string&) override {
    ++unreadable_;
  }

  // The referrals authored in [start, end), by patient id, with their status now. A referral
  // still open (or accepted) has been open until `as_of`; a closed one until its last change
  // (Task.lastModified, else meta.lastUpdated) or `as_of`, whichever is first. Days are whole
  // days, rounded down.
  // The loop fields (issue 15 item 5): accepted when the Task is accepted, in-progress or
  // completed now or the ledger recorded it so; days to acceptance from the earliest of the
  // ledger's record and the current status's time (Task.lastModified, else meta.lastUpdated);
  // days to completion likewise; bounced when the Task is rejected, failed or cancelled while our
  // ServiceRequest is still open; stalled as the loop judges it (plugin/referrals/loop_policy.h)
  // at `as_of`, the status dated by the Task.
  std::map<std::string, std::vector<ReferralRow>> ByPatient(fhir::InstantMicros start,
                                                            fhir::InstantMicros end,
                                                            fhir::InstantMicros as_of,
                                                            const FunnelInputs& funnel = {}) const;
  // Patients with a live interpreter ServiceRequest (not revoked or entered-in-error), at any
  // date.
  std::set<std::string> WithInterpreterReferral() const;

  uint64_t unreadable() const { return unreadable_; }

 private:
  struct Resource {
    std::string identifier;  // our business identifier value
    std::string status;
    std::string status_reason;  // Task.statusReason: text, else the first coding's display/code
    std::string patient;        // the id in subject / for
    std::string need;
    std::optional<fhir::InstantMicros> authored;
    std::optional<fhir::InstantMicros> changed;  // Task.lastModified, else meta.lastUpdated
  };
  std::string system_;
  fhir::TimeZone tz_;
  const Catalog* catalog_;
  std::map<std::string, Resource> requests_;  // by identifier value
  std::map<std::string, Resource> tasks_;     // by the ServiceRequest's identifier value
  uint64_t unreadable_ = 0;

  void SetLoopFields(const Resource& sr, const Resource* task, fhir::InstantMicros as_of,
                     const FunnelInputs& funnel, ReferralRow* row) const;
};

}  // namespace sdoh::report
