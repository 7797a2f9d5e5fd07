// The folder outputs of a pass (README "Outputs"): flags.ndjson, and either one NDJSON file per
// planned resource type or, for a dry run, plan.json. A PassSink; files are written whole or
// not at all (output_file.h) and replace the previous run's only on Commit.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fhir/status.h"
#include "plugin/outputs/output_file.h"
#include "plugin/pass/evaluate_pass.h"

namespace sdoh {

// What a pass flagged and planned, for the summary.
struct PassTally {
  uint64_t patients_read = 0;      // with a Patient resource
  uint64_t patients_screened = 0;  // with a counted screening
  uint64_t patients_flagged = 0;
  uint64_t flags = 0;
  std::map<std::string, uint64_t> flags_by_need;
  std::map<std::string, uint64_t> planned_by_type;
  std::map<std::string, uint64_t> not_planned;  // reason → count
};

// The types of the planned resources, in file order.
const std::vector<std::string>& PlannedResourceTypes();

class FolderOutputs : public PassSink {
 public:
  FolderOutputs(std::string out_dir, std::string run_id, std::string ruleset_version, bool dry_run);

  // Whether the files may use writer threads (OutputFile::set_writer_thread; default yes).
  // REQUIRES: before Open().
  void set_writer_threads(bool allowed) { writer_threads_ = allowed; }
  // Opens every file (as .tmp). Errors: the folder cannot be written.
  fhir::Status Open();
  // The patient's flags.ndjson lines, into result.rendered.
  void Prepare(PatientResult& result) const override;
  void OnPatient(PatientResult& result) override;
  // Closes plan.json (a dry run), adding `plan_members` (JSON object members, may be empty).
  void ClosePlan(const std::string& plan_members);
  // Adds summary.json and commits every file; a dry run removes stale resource files.
  fhir::Status Commit(const std::string& summary_json);

  const PassTally& tally() const { return tally_; }

 private:
  std::string Path(const std::string& name) const;
  void AddPlanEntry(const ReferralPlan& plan);

  std::string out_dir_;
  std::string run_id_;
  std::string ruleset_version_;
  bool dry_run_;
  bool writer_threads_ = true;
  OutputFile flags_file_;
  OutputFile plan_file_;
  std::map<std::string, std::unique_ptr<OutputFile>> resource_files_;
  bool first_plan_ = true;
  bool plan_closed_ = false;
  PassTally tally_;
};

}  // namespace sdoh
