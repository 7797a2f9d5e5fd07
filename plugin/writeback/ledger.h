// The writeback ledger (issue 5): a SQLite file (WAL, mode 0600) recording each planned
// resource planned → sent → confirmed (with server id and version) and the run that sent it,
// plus the incremental-sync cursor per resource type. One writer at a time: Open takes an
// exclusive flock on "<path>.lock" for the life of the object.
// Holds ids, needs and states only. Not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fhir/status.h"

struct sqlite3;

namespace sdoh::writeback {

struct LedgerRow {
  std::string type;        // ServiceRequest | Task | Flag
  std::string identifier;  // business identifier value
  std::string patient;
  std::string need;
  std::string state;  // planned | sent | confirmed | revoked
  std::string server_id;
  std::string version;
  std::string run_id;
};

class Ledger {
 public:
  Ledger() = default;
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Takes the lock (waiting up to lock_wait_seconds), then opens or creates the database.
  // FailedPrecondition when another process holds the lock.
  fhir::Status Open(const std::string& path, int lock_wait_seconds);

  fhir::Status Upsert(const LedgerRow& row);  // keyed by (type, identifier)
  std::optional<LedgerRow> Find(const std::string& type, const std::string& identifier);
  std::vector<LedgerRow> InState(const std::string& state);
  std::vector<LedgerRow> ForRun(const std::string& run_id);

  // Several writes as one atomic commit.
  fhir::Status Begin();
  fhir::Status Commit();

  std::string Cursor(const std::string& type);
  fhir::Status SetCursor(const std::string& type, const std::string& value,
                         const std::string& run_id);

 private:
  fhir::Status Exec(const char* sql);
  std::vector<LedgerRow> Select(const char* where, const std::string& arg);

  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  std::string path_;
};

}  // namespace sdoh::writeback
