// `run --bulk`'s resume state kept in the ledger file (issue 16): the `bulk_exports` table, one
// row per (server base URL, level or "Group/<id>") with the export under way (kick-off request,
// status URL, spool files downloaded whole) and the transaction time of the last export whose
// pass completed (the next `_since`). Written with its own connection, like the CDS feedback
// table (plugin/writeback/feedback_store.h): SQLite's locking orders it against the pass's
// ledger; the file is created 0600 when missing and a symlinked ledger is refused.
#pragma once

#include <memory>
#include <string>

#include "fhir/client/bulk_store.h"
#include "fhir/status.h"

struct sqlite3;

namespace sdoh::writeback {

class BulkResumeLedger : public fhir::client::BulkResume {
 public:
  // Opens (creating) the ledger file at `ledger_path`; IoError naming the path.
  static fhir::Result<std::unique_ptr<BulkResumeLedger>> Open(const std::string& ledger_path,
                                                              const std::string& server,
                                                              const std::string& scope);
  ~BulkResumeLedger() override;
  BulkResumeLedger(const BulkResumeLedger&) = delete;
  BulkResumeLedger& operator=(const BulkResumeLedger&) = delete;

  fhir::Result<fhir::client::BulkResumeState> Load() override;
  fhir::Status SaveExport(const fhir::client::BulkResumeState& state) override;
  fhir::Status CommitTransactionTime(const std::string& transaction_time) override;

 private:
  BulkResumeLedger() = default;
  fhir::Status Error() const;
  std::string path_, server_, scope_;
  sqlite3* db_ = nullptr;
};

}  // namespace sdoh::writeback
