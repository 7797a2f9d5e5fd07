// `sdoh-bridge run`: one pass — read screenings from the store, flag needs, plan referrals,
// write outputs and a summary; with a server source, hand the plan to writeback.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "fhir/status.h"
#include "plugin/catalog.h"
#include "plugin/config.h"
#include "plugin/referral_planner.h"
#include "plugin/rules_engine.h"

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
  std::string since;  // --since (overrides the ledger cursor)
  bool full = false;  // --full (ignore the cursor)
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

struct RunOptions {
  std::string config_path;  // empty: DefaultConfigPath()
  std::string source;       // overrides config `source`
  std::string out;          // overrides config `out`
  bool dry_run = false;
  std::string now;    // overrides the run's clock (authoredOn), ISO dateTime; for tests
  std::string since;  // server source: only resources changed since this instant
  bool full = false;  // server source: read everything, ignoring the ledger cursor
  // Server source: where planned resources are written. Null: NDJSON outputs only.
  WritebackFactory writeback = nullptr;
};

// Exit codes: 0 done; 1 fatal runtime error; 2 usage or config error; 3 done but some inputs
// could not be read (counted by reason in the summary); 4 another run holds the ledger.
int RunJob(const RunOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sdoh
