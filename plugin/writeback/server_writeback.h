// Exactly-once writeback to a FHIR server (issue 5), behind run_job's Writeback seam:
// per evaluated patient, reads what the server holds (ServiceRequest, Task, Flag by subject),
// applies the suppression policy, and writes transaction Bundles of conditional creates in
// batches (config writeback.batch_size), splitting a rejected Bundle and retrying smaller.
// A SQLite ledger records planned → sent → confirmed; after each write an identifier search
// catches duplicates a racing server let through (oldest kept, the rest entered-in-error).
// Flags: one per (patient, need), updated with If-Match; inactive when the need is no longer
// positive; entered-in-error with a retraction (a screening became entered-in-error and the
// need went with it: its ServiceRequests revoked, their Tasks cancelled).
// Dry run: the same reads and decisions, no write at all (not even the ledger).
#pragma once

#include <memory>

#include "fhir/status.h"
#include "plugin/pass/pass_sink.h"

namespace sdoh::writeback {

// The WritebackFactory for RunOptions::writeback.
fhir::Result<std::unique_ptr<Writeback>> MakeServerWriteback(const WritebackContext& ctx);

// Default locations: <out>/ledger.sqlite and <out>/audit.jsonl unless configured.
std::string LedgerPath(const Config& config);
std::string AuditPath(const Config& config);

}  // namespace sdoh::writeback
