#include "plugin/writeback/feedback_store.h"

#include <filesystem>

#include <sqlite3.h>

#include "plugin/writeback/ledger_tables.h"
#include "plugin/writeback/sqlite_stmt.h"

namespace sdoh::writeback {

namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS cds_feedback(
  card TEXT NOT NULL, outcome TEXT NOT NULL, outcome_at TEXT NOT NULL,
  server TEXT NOT NULL, patient TEXT NOT NULL, need TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '', suggestions TEXT NOT NULL DEFAULT '',
  recorded TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY(card, outcome, outcome_at));
CREATE INDEX IF NOT EXISTS cds_feedback_patient ON cds_feedback(patient, need);
)";

constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(' ', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string FeedbackServer(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

fhir::Result<std::unique_ptr<FeedbackStore>> FeedbackStore::Open(const std::string& ledger_path,
                                                                 bool create) {
  auto db = OpenLedgerTables(ledger_path, create, kSchema);
  if (!db.ok()) return db.status();
  std::unique_ptr<FeedbackStore> store(new FeedbackStore());
  store->path_ = ledger_path;
  store->db_ = *db;
  return store;
}

fhir::Result<std::unique_ptr<FeedbackStore>> OpenForService(const std::string& ledger_path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(ledger_path).parent_path(), ec);
  return FeedbackStore::Open(ledger_path, true);
}

FeedbackStore::~FeedbackStore() {
  if (db_ != nullptr) sqlite3_close(db_);
}

fhir::Status FeedbackStore::Record(const FeedbackRow& row) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st(db_,
          "INSERT INTO cds_feedback(card, outcome, outcome_at, server, patient, need, reason, "
          "suggestions) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
          "ON CONFLICT(card, outcome, outcome_at) DO NOTHING");
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  st.Bind(1, row.card);
  st.Bind(2, row.outcome);
  st.Bind(3, row.outcome_at);
  st.Bind(4, FeedbackServer(row.server));
  st.Bind(5, row.patient);
  st.Bind(6, row.need);
  st.Bind(7, row.reason);
  st.Bind(8, Join(row.accepted_suggestions));
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    return fhir::Status::IoError("ledger " + path_ +
                                 ": cannot record feedback: " + sqlite3_errmsg(db_));
  }
  return fhir::Status::Ok();
}

fhir::Result<Declines> FeedbackStore::LoadDeclines(const std::string& server, int days,
                                                   fhir::InstantMicros now,
                                                   const std::string& patient) {
  Declines out;
  if (days <= 0) return out;
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st(db_,
          "SELECT patient, need, reason, outcome_at FROM cds_feedback "
          "WHERE outcome = 'overridden' AND reason != '' "
          "AND (?1 = '' OR server = ?1 OR server = '') AND (?2 = '' OR patient = ?2)");
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  st.Bind(1, FeedbackServer(server));
  st.Bind(2, patient);
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    auto at = fhir::ParseFhirDateTime(st.Col(3), fhir::TimeZone::Utc());
    if (!at) continue;  // validated when recorded
    Decline d{st.Col(2), *at, *at + static_cast<int64_t>(days) * kMicrosPerDay};
    if (now < d.until) out.Add(st.Col(0), st.Col(1), std::move(d));
  }
  if (rc != SQLITE_DONE) {
    return fhir::Status::IoError("ledger " + path_ +
                                 ": cannot read feedback: " + sqlite3_errmsg(db_));
  }
  return out;
}

fhir::Result<std::vector<FeedbackRow>> FeedbackStore::ForPatient(const std::string& patient) {
  std::vector<FeedbackRow> out;
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st(db_,
          "SELECT server, card, patient, need, outcome, reason, outcome_at, suggestions "
          "FROM cds_feedback WHERE patient = ?1 ORDER BY outcome_at, card");
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  st.Bind(1, patient);
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    out.push_back({st.Col(0), st.Col(1), st.Col(2), st.Col(3), st.Col(4), st.Col(5), st.Col(6),
                   Split(st.Col(7))});
  }
  return out;
}

}  // namespace sdoh::writeback
