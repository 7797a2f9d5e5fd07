#include "plugin/writeback/bulk_resume_ledger.h"

#include <sqlite3.h>

#include "plugin/writeback/ledger_tables.h"
#include "plugin/writeback/sqlite_stmt.h"

namespace sdoh::writeback {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS bulk_exports(
  server TEXT NOT NULL, scope TEXT NOT NULL, kickoff TEXT NOT NULL DEFAULT '',
  status_url TEXT NOT NULL DEFAULT '', consumed TEXT NOT NULL DEFAULT '',
  transaction_time TEXT NOT NULL DEFAULT '',
  updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY(server, scope));
)";

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += n + "\n";
  return out;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (nl > start) out.push_back(text.substr(start, nl - start));
  }
  return out;
}

}  // namespace

fhir::Result<std::unique_ptr<BulkResumeLedger>> BulkResumeLedger::Open(
    const std::string& ledger_path, const std::string& server, const std::string& scope) {
  auto db = OpenLedgerTables(ledger_path, true, kSchema);
  if (!db.ok()) return db.status();
  std::unique_ptr<BulkResumeLedger> l(new BulkResumeLedger());
  l->path_ = ledger_path;
  l->server_ = server;
  l->scope_ = scope;
  l->db_ = *db;
  return l;
}

BulkResumeLedger::~BulkResumeLedger() {
  if (db_ != nullptr) sqlite3_close(db_);
}

fhir::Status BulkResumeLedger::Error() const {
  return fhir::Status::IoError("ledger " + path_ + " (bulk_exports): " + sqlite3_errmsg(db_));
}

fhir::Result<fhir::client::BulkResumeState> BulkResumeLedger::Load() {
  Stmt st(db_,
          "SELECT kickoff, status_url, consumed, transaction_time FROM bulk_exports "
          "WHERE server = ?1 AND scope = ?2");
  if (!st.ok()) return Error();
  st.Bind(1, server_);
  st.Bind(2, scope_);
  fhir::client::BulkResumeState state;
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) {
    state.kickoff = st.Col(0);
    state.status_url = st.Col(1);
    state.consumed = Split(st.Col(2));
    state.transaction_time = st.Col(3);
  } else if (rc != SQLITE_DONE) {
    return Error();
  }
  return state;
}

fhir::Status BulkResumeLedger::SaveExport(const fhir::client::BulkResumeState& state) {
  Stmt st(db_,
          "INSERT INTO bulk_exports(server, scope, kickoff, status_url, consumed) "
          "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(server, scope) DO UPDATE SET "
          "kickoff = excluded.kickoff, status_url = excluded.status_url, "
          "consumed = excluded.consumed, "
          "updated = strftime('%Y-%m-%dT%H:%M:%fZ','now')");
  if (!st.ok()) return Error();
  st.Bind(1, server_);
  st.Bind(2, scope_);
  st.Bind(3, state.kickoff);
  st.Bind(4, state.status_url);
  st.Bind(5, Join(state.consumed));
  if (sqlite3_step(st.get()) != SQLITE_DONE) return Error();
  return fhir::Status::Ok();
}

fhir::Status BulkResumeLedger::CommitTransactionTime(const std::string& transaction_time) {
  Stmt st(db_,
          "INSERT INTO bulk_exports(server, scope, transaction_time) VALUES(?1, ?2, ?3) "
          "ON CONFLICT(server, scope) DO UPDATE SET transaction_time = excluded.transaction_time, "
          "updated = strftime('%Y-%m-%dT%H:%M:%fZ','now')");
  if (!st.ok()) return Error();
  st.Bind(1, server_);
  st.Bind(2, scope_);
  st.Bind(3, transaction_time);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return Error();
  return fhir::Status::Ok();
}

}  // namespace sdoh::writeback
