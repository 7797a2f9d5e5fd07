// The writeback ledger (issue 5): a SQLite file (WAL, created mode 0600) recording each planned
// resource planned → sent → confirmed (with server id and version) and the run that sent it,
// plus the incremental-sync cursors per (server, resource type). One writer at a time: Open
// takes an exclusive flock on "<path>.lock" for the life of the object.
// Issue 13: the ledger is bound to one server (base URL + identifier system, see Bind); it is
// opened read-write and proven writable before anything is sent; a symlinked ledger, -wal,
// -shm, lock or owner file is refused (never followed); an existing file is never chmod'ed.
// Holds ids, needs and states only. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhir/status.h"
#include "plugin/referrals/directory.h"

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

// Issue 15 item 1: one of our referral Tasks as the last pass saw it on the server (the loop),
// keyed by the Task's business identifier. Times are FHIR instants (UTC).
struct LoopRow {
  std::string task;  // business identifier value of the referral Task
  std::string patient;
  std::string need;
  std::string task_id;  // server id
  std::string version;  // the version last seen
  std::string status;   // Task.status
  std::string status_reason;
  std::string performer;        // Task.owner reference
  std::string authored;         // Task.authoredOn
  std::string status_since;     // meta.lastUpdated of the version that brought the status
  std::string output;           // Task.output: references or codes, comma-separated
  std::string service_request;  // Task.focus reference
  std::string follow_up;        // identifier of the latest follow-up Task, "" when none
  std::string follow_up_kind;   // rejected | failed | cancelled | stalled-<status>
  std::string sr_status;        // our ServiceRequest's status as last read or set by the loop
};

// One recorded status change of a referral Task.
struct LoopTransition {
  std::string task;
  std::string version;
  std::string from;
  std::string to;
  std::string at;  // meta.lastUpdated of the version
  std::string reason;
  std::string run_id;
};

class Ledger {
 public:
  Ledger() = default;
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Takes the lock (waiting up to lock_wait_seconds), then opens or creates the database and
  // proves it writable (a write in a transaction that is rolled back).
  // FailedPrecondition when another process holds the lock, or when another process owns the
  // ledger (LedgerOwner: a running `serve`/`watch` does the passes on it). IoError when the
  // ledger cannot be written (read-only file, file system or directory), or when the ledger,
  // its -wal, -shm, .lock or .owner path is a symlink (each error names the path).
  fhir::Status Open(const std::string& path, int lock_wait_seconds);

  // Binds the ledger to `server_base` (trailing '/' ignored) and `identifier_system`: recorded
  // on first use; a ledger bound to another server or system is refused (InvalidArgument,
  // naming both) unless `rebind`, which records the new binding. `*previous` receives the
  // old binding ("<base> <system>") when it changed. Cursors are per bound server.
  fhir::Status Bind(const std::string& server_base, const std::string& identifier_system,
                    bool rebind, std::string* previous = nullptr);

  // Whether the ledger is bound to this server and identifier system (read only).
  bool BoundTo(const std::string& server_base, const std::string& identifier_system);

  // Every write returns its Status; callers stop writing to the server when one fails.
  // Failpoint "ledger-write-error[:N]" makes the Nth Upsert/SetCursor fail (tests).
  fhir::Status Upsert(const LedgerRow& row);  // keyed by (type, identifier)
  std::optional<LedgerRow> Find(const std::string& type, const std::string& identifier);
  std::vector<LedgerRow> InState(const std::string& state);
  std::vector<LedgerRow> ForRun(const std::string& run_id);

  // Several writes as one atomic commit.
  fhir::Status Begin();
  fhir::Status Commit();
  void Rollback();  // after a failed write between Begin and Commit

  // Issue 15 item 1 (ledger_loop.cc): the loop of our referral Tasks.
  std::optional<LoopRow> FindLoop(const std::string& task);
  std::vector<LoopRow> LoopRows();  // by patient, need, task
  fhir::Status UpsertLoop(const LoopRow& row);
  // Recorded once per (task, version): a repeated poll adds nothing.
  fhir::Status AddTransition(const LoopTransition& t);
  std::vector<LoopTransition> Transitions(const std::string& task);  // oldest first
  // What a completed Task's Flag edit has reached ("noted", "inactive"; "" none yet).
  std::string FlagApplied(const std::string& task);
  fhir::Status SetFlagApplied(const std::string& task, const std::string& state);
  // Read-only access without the lock (`sdoh-bridge referrals`): NotFound when the file is
  // missing. Only the read methods may be called afterwards.
  fhir::Status OpenForReading(const std::string& path);

  // The cursors of the bound server (of "" before Bind).
  std::string Cursor(const std::string& type);
  fhir::Status SetCursor(const std::string& type, const std::string& value,
                         const std::string& run_id);

 private:
  fhir::Status Exec(const char* sql);
  std::vector<LedgerRow> Select(const char* where, const std::string& arg);

  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  std::string path_;
  std::string server_;  // the bound server base URL
};

// Issue 15 item 3: from the ledger file at `path` (read-only, no lock), the performers (Task.owner
// as recorded in loop_tasks) whose referral Task for a (patient, need) went rejected, failed or
// cancelled by someone else (not retracted or revoked by sdoh-bridge). Empty when the file or its
// loop tables do not exist yet.
fhir::Result<RejectedPerformers> LoadRejectedPerformers(const std::string& path);

// Long-lived ownership of a ledger (issue 6): `serve` with a watch loop and `watch` hold an
// exclusive flock on "<ledger>.owner" (which records pid and role) for their lifetime, so a
// second serve/watch on the same ledger refuses to start, and Ledger::Open in any other
// process (`run`, `revoke`) fails with FailedPrecondition naming the owner. Passes inside the
// owning process open the ledger normally. The flock ends with the process, even on kill -9.
class LedgerOwner {
 public:
  // FailedPrecondition (with the holder's pid and role) when another process owns the ledger.
  static fhir::Result<std::unique_ptr<LedgerOwner>> Acquire(const std::string& ledger_path,
                                                            const std::string& role);
  ~LedgerOwner();
  LedgerOwner(const LedgerOwner&) = delete;
  LedgerOwner& operator=(const LedgerOwner&) = delete;

 private:
  LedgerOwner(int fd, std::string ledger_path) : fd_(fd), ledger_path_(std::move(ledger_path)) {}
  int fd_;
  std::string ledger_path_;
};

}  // namespace sdoh::writeback
