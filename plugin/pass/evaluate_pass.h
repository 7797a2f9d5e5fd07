// The one evaluation. Every front — `run`, `explain`, `test-rules`, `report`, CDS Hooks —
// reads its store through the screening collector, evaluates the rules per patient and plans
// the referrals here, and receives typed results through a PassSink. What to do with them
// (folder outputs, server writeback, explain text, cards, report rows) is the sink's business.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fhir/datetime.h"
#include "fhir/status.h"
#include "fhir/store.h"
#include "plugin/pass/run_counts.h"
#include "plugin/referrals/referral_planner.h"
#include "plugin/rules/rules_engine.h"
#include "plugin/screening/screening_collector.h"
#include "plugin/setup/pipeline.h"

namespace sdoh {

struct PassOptions {
  fhir::InstantMicros now = 0;  // the pass's clock: FHIRPath now(), authoredOn
  std::string only_patient;     // evaluate this patient only ("" = everyone)
  // Bases local for this pass besides the source's and `source_aliases` (issue 13 #7): a CDS
  // call's fhirServer.
  std::vector<std::string> local_bases;
  bool plan_referrals = true;  // plan ServiceRequest / Task / Flag per flag
  // Referrals declined through CDS feedback and still in force (issue 14 item 7); null: none.
  // Must outlive the pass.
  const Declines* declines = nullptr;
  // Referrals the performer completed (issue 15 item 1); null: none. Must outlive the pass.
  const Completions* completions = nullptr;
  // Issue 15 item 3: the service directory (null: none) and the performers that rejected a
  // patient's referral for a need (null: none). Must outlive the pass. With a directory the
  // collector also reads each patient's postal code and communication language.
  const Directory* directory = nullptr;
  const RejectedPerformers* rejected = nullptr;
  bool rule_outcomes = false;  // every rule's outcome per screening (explain)
  // When set, the rules see only the counted screenings in [first, second) (the report's
  // period); the record handed to the sink keeps them all.
  std::optional<std::pair<fhir::InstantMicros, fhir::InstantMicros>> evaluate_window;
  // When set, what the store reads goes through this visitor, which forwards to the collector
  // it is given (the report's period-end filter and demographics tap).
  std::function<fhir::ResourceVisitor&(fhir::ResourceVisitor& collector)> reader;
  // Threads building the records, evaluating the rules and planning the referrals (issue 17;
  // `run` gives the source's threads). The sink sees the same patients, with the same results,
  // in the same order, on the calling thread, whatever the count. Not with `only_patient`.
  size_t threads = 1;
};

// One evaluated patient.
struct PatientResult {
  PatientRecord& record;
  std::vector<NeedFlag> flags;        // sorted by need; `def` points into the catalog
  std::vector<ReferralPlan> plans;    // one per flag, same order (plan_referrals)
  std::vector<RuleOutcome> outcomes;  // rule_outcomes
  // What the sink's Prepare rendered for OnPatient (FolderOutputs: the flags.ndjson lines).
  std::string rendered = {};
};

class PassSink {
 public:
  virtual ~PassSink() = default;
  // Once per patient, before OnPatient, on the thread that evaluated the patient — with
  // `threads` > 1 several run at once, for different patients. For work that depends on the
  // result alone (rendering output lines into `result.rendered`), taken off the one thread
  // that calls OnPatient (issue 17). Must not change the sink.
  virtual void Prepare(PatientResult& /*result*/) const {}
  // Once per patient with a Patient resource or a counted screening, in patient-id order.
  virtual void OnPatient(PatientResult& result) = 0;
};

// A sink that calls a function (fronts whose handling of a patient is a few lines).
class FunctionSink : public PassSink {
 public:
  explicit FunctionSink(std::function<void(PatientResult&)> fn) : fn_(std::move(fn)) {}
  void OnPatient(PatientResult& result) override { fn_(result); }

 private:
  std::function<void(PatientResult&)> fn_;
};

// A pass: the collector and its counts live as long as the pass, so a front can read the trace
// (explain) or the per-pass codes (report) after Evaluate.
class Pass {
 public:
  Pass(const Pipeline& pipeline, PassOptions options);

  // Reads every screening type from `store`. Errors: reading could not go on (I/O, server).
  fhir::Status Read(fhir::Store& store);
  // Evaluates every patient read and hands each to `sink`. Call once, after Read.
  void Evaluate(PassSink& sink);

  ScreeningCollector& collector() { return collector_; }
  RunCounts& counts() { return collector_.counts(); }

 private:
  // The rules and referral plans of result.record. Safe on several threads at once, one `ctx`
  // each (its fragment cache).
  void EvaluateOne(PatientResult& result, const PlanContext& ctx) const;
  void EvaluateOnThreads(PassSink& sink, const PlanContext& ctx);

  const Pipeline& pipeline_;
  PassOptions options_;
  ScreeningCollector collector_;
};

// Read + Evaluate in one call.
fhir::Status EvaluatePass(const Pipeline& pipeline, fhir::Store& store, const PassOptions& options,
                          PassSink& sink);

}  // namespace sdoh
