// Ledger, issue 15 item 1: the loop tables (loop_tasks, loop_transitions; schema in ledger.cc)
// and the read-only opening that `sdoh-bridge referrals` uses.
#include <sys/stat.h>

#include <sqlite3.h>

#include "plugin/writeback/sqlite_stmt.h"

#include "plugin/writeback/ledger.h"

namespace sdoh::writeback {

namespace {

constexpr const char* kLoopColumns =
    "task, patient, need, task_id, version, status, status_reason, performer, authored, "
    "status_since, output, service_request, follow_up, follow_up_kind, sr_status";

LoopRow ReadLoopRow(Stmt& st) {
  return {st.Col(0),  st.Col(1),  st.Col(2),  st.Col(3),  st.Col(4),
          st.Col(5),  st.Col(6),  st.Col(7),  st.Col(8),  st.Col(9),
          st.Col(10), st.Col(11), st.Col(12), st.Col(13), st.Col(14)};
}

}  // namespace

fhir::Status Ledger::OpenForReading(const std::string& path) {
  path_ = path;
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) {
    return fhir::Status::NotFound("no ledger at " + path +
                                  " (a `run` against a FHIR server creates it)");
  }
  int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, nullptr);
  if (rc != SQLITE_OK) {
    return fhir::Status::IoError("cannot open ledger " + path + ": " + sqlite3_errstr(rc));
  }
  sqlite3_busy_timeout(db_, 5000);
  Stmt st(db_, "SELECT 1 FROM loop_tasks LIMIT 1");
  if (!st.ok()) {
    return fhir::Status::NotFound("the ledger " + path +
                                  " has no referral loop yet (written by a `run` of this "
                                  "release against a FHIR server)");
  }
  return fhir::Status::Ok();
}

std::optional<LoopRow> Ledger::FindLoop(const std::string& task) {
  std::string sql = std::string("SELECT ") + kLoopColumns + " FROM loop_tasks WHERE task = ?1";
  Stmt st(db_, sql.c_str());
  if (!st.ok()) return std::nullopt;
  st.Bind(1, task);
  if (sqlite3_step(st.get()) != SQLITE_ROW) return std::nullopt;
  return ReadLoopRow(st);
}

std::vector<LoopRow> Ledger::LoopRows() {
  std::string sql =
      std::string("SELECT ") + kLoopColumns + " FROM loop_tasks ORDER BY patient, need, task";
  Stmt st(db_, sql.c_str());
  std::vector<LoopRow> out;
  if (!st.ok()) return out;
  while (sqlite3_step(st.get()) == SQLITE_ROW) out.push_back(ReadLoopRow(st));
  return out;
}

fhir::Status Ledger::UpsertLoop(const LoopRow& r) {
  std::string sql = std::string("INSERT OR REPLACE INTO loop_tasks(") + kLoopColumns +
                    ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)";
  Stmt st(db_, sql.c_str());
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  int i = 1;
  for (const std::string* v :
       {&r.task, &r.patient, &r.need, &r.task_id, &r.version, &r.status, &r.status_reason,
        &r.performer, &r.authored, &r.status_since, &r.output, &r.service_request, &r.follow_up,
        &r.follow_up_kind, &r.sr_status}) {
    st.Bind(i++, *v);
  }
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  }
  return fhir::Status::Ok();
}

fhir::Status Ledger::AddTransition(const LoopTransition& t) {
  Stmt st(db_,
          "INSERT OR IGNORE INTO loop_transitions(task, version, from_status, to_status, at, "
          "reason, run_id) VALUES(?1,?2,?3,?4,?5,?6,?7)");
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  int i = 1;
  for (const std::string* v : {&t.task, &t.version, &t.from, &t.to, &t.at, &t.reason, &t.run_id}) {
    st.Bind(i++, *v);
  }
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  }
  return fhir::Status::Ok();
}

std::vector<LoopTransition> Ledger::Transitions(const std::string& task) {
  Stmt st(db_,
          "SELECT task, version, from_status, to_status, at, reason, run_id FROM "
          "loop_transitions WHERE task = ?1 ORDER BY at, CAST(version AS INTEGER)");
  std::vector<LoopTransition> out;
  if (!st.ok()) return out;
  st.Bind(1, task);
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    out.push_back({st.Col(0), st.Col(1), st.Col(2), st.Col(3), st.Col(4), st.Col(5), st.Col(6)});
  }
  return out;
}

std::string Ledger::FlagApplied(const std::string& task) {
  Stmt st(db_, "SELECT applied FROM loop_flags WHERE task = ?1");
  if (!st.ok()) return "";
  st.Bind(1, task);
  if (sqlite3_step(st.get()) != SQLITE_ROW) return "";
  return st.Col(0);
}

fhir::Status Ledger::SetFlagApplied(const std::string& task, const std::string& state) {
  Stmt st(db_, "INSERT OR REPLACE INTO loop_flags(task, applied) VALUES(?1, ?2)");
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  st.Bind(1, task);
  st.Bind(2, state);
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  }
  return fhir::Status::Ok();
}

fhir::Result<RejectedPerformers> LoadRejectedPerformers(const std::string& path) {
  RejectedPerformers out;
  Ledger ledger;
  if (fhir::Status s = ledger.OpenForReading(path); !s.ok()) {
    if (s.code() == fhir::Status::Code::kNotFound) return out;
    return s;
  }
  for (const LoopRow& row : ledger.LoopRows()) {
    if (row.status != "rejected" && row.status != "failed" && row.status != "cancelled") continue;
    if (row.performer.empty()) continue;
    // Retracted or revoked by us (the need went away, a withdrawn rule set, `revoke`).
    auto task_row = ledger.Find("Task", row.task);
    if (!task_row || task_row->state == "revoked" || row.sr_status == "revoked" ||
        row.sr_status == "entered-in-error") {
      continue;
    }
    out[{row.patient, row.need}].insert(row.performer);
  }
  return out;
}

}  // namespace sdoh::writeback
