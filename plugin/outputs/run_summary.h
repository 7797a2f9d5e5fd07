// The summary of a run: summary.json (README "Outputs") and the readable text on stdout. Ids,
// needs, reasons and counts only.
#pragma once

#include <iosfwd>
#include <string>

#include "fhir/store.h"
#include "plugin/outputs/folder_outputs.h"
#include "plugin/pass/run_counts.h"
#include "plugin/screening/form_inference.h"
#include "plugin/setup/catalog.h"

namespace sdoh {

// Issue 15 item 3: the service directory's part of a run (only when `directory:` is set).
struct DirectoryTally {
  std::string source;     // Store::Describe() of the directory
  uint64_t services = 0;  // HealthcareServices read
  uint64_t chosen = 0;    // referrals whose performer the directory chose
  uint64_t fallback = 0;  // referrals left with the route's performer (no eligible service)
};

struct RunSummary {
  std::string run_id;
  std::string started;  // the run's clock, FHIR instant
  std::string source;   // Store::Describe()
  uint64_t bytes_read = 0;
  bool dry_run = false;
  std::string ruleset_id, ruleset_version;
  std::string out_dir;
  size_t threads = 0;  // the run's threads (console only: summary.json is the same for every N)
  const RunCounts* counts = nullptr;
  const PassTally* tally = nullptr;
  const FormInference* forms = nullptr;  // the forms the pass met (mapped, inferred, unmapped)
  const Catalog* catalog = nullptr;
  const DirectoryTally* directory = nullptr;  // null: no directory configured
  int exit_code = 0;
};

// summary.json, pretty-printed.
std::string SummaryJson(const RunSummary& s);
// The readable summary.
void PrintSummary(const RunSummary& s, std::ostream& out);

}  // namespace sdoh
