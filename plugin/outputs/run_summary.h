// The summary of a run: summary.json (README "Outputs") and the readable text on stdout. Ids,
// needs, reasons and counts only.
#pragma once

#include <iosfwd>
#include <string>

#include "fhir/store.h"
#include "plugin/outputs/folder_outputs.h"
#include "plugin/pass/run_counts.h"

namespace sdoh {

struct RunSummary {
  std::string run_id;
  std::string started;  // the run's clock, FHIR instant
  std::string source;   // Store::Describe()
  uint64_t bytes_read = 0;
  bool dry_run = false;
  std::string ruleset_id, ruleset_version;
  std::string out_dir;
  const RunCounts* counts = nullptr;
  const PassTally* tally = nullptr;
  int exit_code = 0;
};

// summary.json, pretty-printed.
std::string SummaryJson(const RunSummary& s);
// The readable summary.
void PrintSummary(const RunSummary& s, std::ostream& out);

}  // namespace sdoh
