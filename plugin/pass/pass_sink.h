// The writeback seam: what a pass hands to a server sink, one evaluated patient at a time.
// plugin/writeback implements it; the pass only calls it.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "fhir/status.h"
#include "plugin/referrals/referral_planner.h"
#include "plugin/rules/rules_engine.h"
#include "plugin/setup/catalog.h"
#include "plugin/setup/config.h"

namespace fhir::client {
class FhirClient;
}

namespace sdoh {

// One evaluated patient as writeback sees it: every need flag of this pass (possibly none)
// and, per flag in the same order, the planned resources. `flags[i].def` points into the
// catalog and stays valid for the pass.
struct PatientPass {
  std::string patient_id;
  std::vector<NeedFlag> flags;
  std::vector<ReferralPlan> plans;
};

struct WritebackContext {
  const Config* config = nullptr;
  const Catalog* catalog = nullptr;
  fhir::client::FhirClient* client = nullptr;  // REQUIRES: outlives the writeback
  std::string run_id;
  fhir::InstantMicros now = 0;
  bool dry_run = false;
  std::string since;         // --since (overrides the ledger cursor)
  bool full = false;         // --full (ignore the cursor)
  bool allow_large = false;  // --allow-large (no writeback.max_new_referrals_per_pass valve)
  // --rebind-ledger: a ledger bound to another server (or identifier system) is rebound to
  // this one instead of refused (issue 13).
  bool rebind_ledger = false;
};

// The writeback seam (plugin/writeback implements it; run_job only calls it). One instance
// per pass; calls in order Begin, AddPatient*, Finish.
class Writeback {
 public:
  virtual ~Writeback() = default;
  // Before reading: takes the ledger lock and reconciles an interrupted run. Sets *since to
  // the instant the read should start from ("" = everything). FailedPrecondition: another
  // process holds the ledger (the caller exits 4 without doing anything).
  virtual fhir::Status Begin(std::string* since) = 0;
  // One evaluated patient, in patient-id order. May write (batches are flushed as they fill).
  virtual void AddPatient(PatientPass pass) = 0;
  // After the read: flushes, checks for duplicates, moves the cursor to `server_time` when the
  // whole pass succeeded. Returns 0 when every write succeeded, 1 otherwise. With dry run,
  // `*plan_members` receives JSON object members (without braces) for plan.json.
  virtual int Finish(const std::string& server_time, std::string* plan_members, std::ostream& out,
                     std::ostream& err) = 0;
};

using WritebackFactory = fhir::Result<std::unique_ptr<Writeback>> (*)(const WritebackContext&);

}  // namespace sdoh
