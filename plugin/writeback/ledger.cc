#include "plugin/writeback/ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include <sqlite3.h>

#include "plugin/writeback/failpoint.h"

namespace sdoh::writeback {

namespace {

std::string Col(sqlite3_stmt* st, int i) {
  const unsigned char* t = sqlite3_column_text(st, i);
  return t == nullptr ? std::string() : reinterpret_cast<const char*>(t);
}

void BindText(sqlite3_stmt* st, int i, const std::string& v) {
  sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Stmt() { sqlite3_finalize(st_); }
  sqlite3_stmt* get() const { return st_; }
  bool ok() const { return st_ != nullptr; }

 private:
  sqlite3_stmt* st_ = nullptr;
};

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS resources(
  type TEXT NOT NULL, identifier TEXT NOT NULL, patient TEXT NOT NULL, need TEXT NOT NULL,
  state TEXT NOT NULL, server_id TEXT NOT NULL DEFAULT '', version TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL, updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY(type, identifier));
CREATE INDEX IF NOT EXISTS resources_run ON resources(run_id);
CREATE INDEX IF NOT EXISTS resources_state ON resources(state);
CREATE TABLE IF NOT EXISTS server_cursors(
  server TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, run_id TEXT NOT NULL,
  updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY(server, type));
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS loop_tasks(
  task TEXT PRIMARY KEY, patient TEXT NOT NULL, need TEXT NOT NULL, task_id TEXT NOT NULL,
  version TEXT NOT NULL, status TEXT NOT NULL, status_reason TEXT NOT NULL,
  performer TEXT NOT NULL, authored TEXT NOT NULL, status_since TEXT NOT NULL,
  output TEXT NOT NULL, service_request TEXT NOT NULL, follow_up TEXT NOT NULL,
  follow_up_kind TEXT NOT NULL, sr_status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS loop_transitions(
  task TEXT NOT NULL, version TEXT NOT NULL, from_status TEXT NOT NULL, to_status TEXT NOT NULL,
  at TEXT NOT NULL, reason TEXT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY(task, version));
CREATE TABLE IF NOT EXISTS loop_flags(task TEXT PRIMARY KEY, applied TEXT NOT NULL);
)";
// Ledgers from before issue 13 kept one cursor per type in "cursors", bound to no server: they
// are left unread, so the first pass after the upgrade is a full one.

// Issue 13: nothing in the out folder is reached through a symlink. A missing path is fine.
fhir::Status RefuseSymlink(const std::string& path, const std::string& what) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return fhir::Status::IoError(what + " " + path +
                                 " is a symlink; sdoh-bridge does not follow symlinks there — "
                                 "replace it with a regular file or remove it");
  }
  return fhir::Status::Ok();
}

// open(2) with O_NOFOLLOW: a symlink (even a dangling one) is neither followed nor its target
// created. -1 with errno set on failure.
int OpenNoFollow(const std::string& path, int flags) {
  return ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600);
}

fhir::Status OpenError(const std::string& path, const std::string& what, int err) {
  if (err == ELOOP) {
    return fhir::Status::IoError(what + " " + path +
                                 " is a symlink; sdoh-bridge does not follow symlinks there — "
                                 "replace it with a regular file or remove it");
  }
  return fhir::Status::IoError("cannot open " + what + " " + path + ": " + std::strerror(err));
}

// Ledgers this process owns (LedgerOwner): its own passes may open them.
std::mutex owned_mu;
std::set<std::string>& Owned() {
  static std::set<std::string> owned;
  return owned;
}

std::string OwnerPath(const std::string& ledger_path) { return ledger_path + ".owner"; }

std::string OwnerText(int fd) {
  char buf[256];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "another sdoh-bridge process" : text;
}

// Ok unless another process holds "<ledger>.owner".
fhir::Status CheckNotOwnedElsewhere(const std::string& ledger_path) {
  {
    std::lock_guard<std::mutex> lock(owned_mu);
    if (Owned().count(ledger_path)) return fhir::Status::Ok();
  }
  int fd = OpenNoFollow(OwnerPath(ledger_path), O_RDONLY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return fhir::Status::Ok();  // never owned
    return OpenError(OwnerPath(ledger_path), "ledger owner file", err);
  }
  fhir::Status s = fhir::Status::Ok();
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    s = fhir::Status::FailedPrecondition(
        OwnerText(fd) + " owns the ledger " + ledger_path +
        " and runs its passes; nothing was done — stop it first, or let its watch loop work");
  }
  ::close(fd);  // releases the shared lock if it was taken
  return s;
}

}  // namespace

fhir::Result<std::unique_ptr<LedgerOwner>> LedgerOwner::Acquire(const std::string& ledger_path,
                                                                const std::string& role) {
  const std::string path = OwnerPath(ledger_path);
  int fd = OpenNoFollow(path, O_RDWR | O_CREAT);
  if (fd < 0) return OpenError(path, "ledger owner file", errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = OwnerText(fd);
    ::close(fd);
    return fhir::Status::FailedPrecondition(holder + " already owns the ledger " + ledger_path +
                                            " (" + path + "); one process per ledger");
  }
  std::string text = "sdoh-bridge " + role + " (pid " + std::to_string(::getpid()) + ")\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    ::close(fd);
    return fhir::Status::IoError("cannot write the ledger owner file " + path);
  }
  {
    std::lock_guard<std::mutex> lock(owned_mu);
    Owned().insert(ledger_path);
  }
  return std::unique_ptr<LedgerOwner>(new LedgerOwner(fd, ledger_path));
}

LedgerOwner::~LedgerOwner() {
  {
    std::lock_guard<std::mutex> lock(owned_mu);
    Owned().erase(ledger_path_);
  }
  ::close(fd_);  // releases the flock; the file stays (its content is only informative)
}

Ledger::~Ledger() {
  if (db_ != nullptr) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

fhir::Status Ledger::Open(const std::string& path, int lock_wait_seconds) {
  path_ = path;
  if (fhir::Status owned = CheckNotOwnedElsewhere(path); !owned.ok()) return owned;
  const std::string lock_path = path + ".lock";
  lock_fd_ = OpenNoFollow(lock_path, O_RDWR | O_CREAT);
  if (lock_fd_ < 0) return OpenError(lock_path, "ledger lock", errno);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(lock_wait_seconds);
  while (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(lock_fd_);
      lock_fd_ = -1;
      return fhir::Status::FailedPrecondition(
          "another sdoh-bridge run holds the ledger " + path + " (lock " + lock_path +
          "); nothing was done — run again when it has finished");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // SQLite opens -wal and -shm itself: they are checked here, under the lock (the journal too).
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (fhir::Status s = RefuseSymlink(path + suffix, "ledger file"); !s.ok()) return s;
  }
  // A new database is created 0600 (umask), and SQLite gives its -wal/-shm the database's mode.
  // An existing file keeps the mode the admin gave it: never chmod'ed (issue 13).
  mode_t old = ::umask(077);
  int rc = sqlite3_open_v2(
      path.c_str(), &db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
      nullptr);
  fhir::Status s =
      rc == SQLITE_OK
          ? fhir::Status::Ok()
          : fhir::Status::IoError("cannot open ledger " + path + ": " + sqlite3_errstr(rc));
  // SQLite quietly falls back to read-only when the file is not writable (mode, owner,
  // immutable flag, read-only mount): refused before anything is sent.
  if (s.ok() && sqlite3_db_readonly(db_, "main") != 0) {
    s = fhir::Status::IoError("the ledger " + path +
                              " is not writable (file mode, owner or file system); nothing "
                              "was sent — make it writable for this user (sdoh-bridge never "
                              "changes its mode)");
  }
  if (s.ok()) s = Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  if (s.ok()) sqlite3_busy_timeout(db_, 5000);
  if (s.ok()) s = Exec(kSchema);
  if (s.ok()) {
    // Proof of writability: a write in a transaction that is rolled back.
    s = Exec("BEGIN IMMEDIATE");
    if (s.ok()) {
      s = Exec(
          "INSERT INTO meta(key, value) VALUES('write-probe', '') "
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      Rollback();
    }
    if (!s.ok()) {
      s = fhir::Status::IoError("the ledger " + path + " cannot be written (" + s.message() +
                                "); nothing was sent");
    }
  }
  ::umask(old);
  return s;
}

fhir::Status Ledger::Exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg != nullptr ? msg : "unknown error";
    sqlite3_free(msg);
    return fhir::Status::IoError("ledger " + path_ + ": " + m);
  }
  return fhir::Status::Ok();
}

fhir::Status Ledger::Begin() { return Exec("BEGIN IMMEDIATE"); }
fhir::Status Ledger::Commit() { return Exec("COMMIT"); }
void Ledger::Rollback() {
  if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) Exec("ROLLBACK");
}

namespace {

std::string Meta(sqlite3* db, const char* key) {
  Stmt st(db, "SELECT value FROM meta WHERE key = ?1");
  if (!st.ok()) return "";
  BindText(st.get(), 1, key);
  return sqlite3_step(st.get()) == SQLITE_ROW ? Col(st.get(), 0) : std::string();
}

std::string NormalizedBase(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

}  // namespace

bool Ledger::BoundTo(const std::string& server_base, const std::string& identifier_system) {
  return Meta(db_, "server_base") == NormalizedBase(server_base) &&
         Meta(db_, "identifier_system") == identifier_system;
}

fhir::Status Ledger::Bind(const std::string& server_base, const std::string& identifier_system,
                          bool rebind, std::string* previous) {
  const std::string base = NormalizedBase(server_base);
  const std::string bound_base = Meta(db_, "server_base");
  const std::string bound_system = Meta(db_, "identifier_system");
  const bool first = bound_base.empty() && bound_system.empty();
  if (!first && (bound_base != base || bound_system != identifier_system)) {
    if (!rebind) {
      return fhir::Status::InvalidArgument(
          "the ledger " + path_ + " is bound to the server " + bound_base + " (identifier system " +
          bound_system + "), not " + base + " (identifier system " + identifier_system +
          "); nothing was done — use the out folder (or writeback.ledger) of that server, or "
          "pass --rebind-ledger to bind this ledger to " +
          base);
    }
    if (previous != nullptr) *previous = bound_base + " " + bound_system;
  }
  if (first || rebind) {
    if (fhir::Status s = Begin(); !s.ok()) return s;
    for (const auto& [key, value] :
         {std::pair<const char*, std::string>{"server_base", base},
          std::pair<const char*, std::string>{"identifier_system", identifier_system}}) {
      Stmt st(db_,
              "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET "
              "value = excluded.value");
      if (!st.ok()) {
        Rollback();
        return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
      }
      BindText(st.get(), 1, key);
      BindText(st.get(), 2, value);
      if (sqlite3_step(st.get()) != SQLITE_DONE) {
        fhir::Status s = fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
        Rollback();
        return s;
      }
    }
    if (fhir::Status s = Commit(); !s.ok()) {
      Rollback();
      return s;
    }
  }
  server_ = base;
  return fhir::Status::Ok();
}

fhir::Status Ledger::Upsert(const LedgerRow& r) {
  if (FailpointFires("ledger-write-error")) {
    return fhir::Status::IoError("ledger " + path_ + ": write failed (failpoint)");
  }
  Stmt st(db_,
          "INSERT INTO resources(type, identifier, patient, need, state, server_id, version, "
          "run_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(type, identifier) DO UPDATE SET "
          "patient=?3, need=?4, state=?5, server_id=?6, version=?7, run_id=?8, "
          "updated=strftime('%Y-%m-%dT%H:%M:%fZ','now')");
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  BindText(st.get(), 1, r.type);
  BindText(st.get(), 2, r.identifier);
  BindText(st.get(), 3, r.patient);
  BindText(st.get(), 4, r.need);
  BindText(st.get(), 5, r.state);
  BindText(st.get(), 6, r.server_id);
  BindText(st.get(), 7, r.version);
  BindText(st.get(), 8, r.run_id);
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  }
  return fhir::Status::Ok();
}

std::vector<LedgerRow> Ledger::Select(const char* where, const std::string& arg) {
  std::string sql =
      "SELECT type, identifier, patient, need, state, server_id, version, run_id FROM resources "
      "WHERE ";
  sql += where;
  sql += " ORDER BY type, identifier";
  Stmt st(db_, sql.c_str());
  std::vector<LedgerRow> out;
  if (!st.ok()) return out;
  BindText(st.get(), 1, arg);
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    out.push_back({Col(st.get(), 0), Col(st.get(), 1), Col(st.get(), 2), Col(st.get(), 3),
                   Col(st.get(), 4), Col(st.get(), 5), Col(st.get(), 6), Col(st.get(), 7)});
  }
  return out;
}

std::optional<LedgerRow> Ledger::Find(const std::string& type, const std::string& identifier) {
  for (LedgerRow& r : Select("identifier = ?1", identifier)) {
    if (r.type == type) return std::move(r);
  }
  return std::nullopt;
}

std::vector<LedgerRow> Ledger::InState(const std::string& state) {
  return Select("state = ?1", state);
}

std::vector<LedgerRow> Ledger::ForRun(const std::string& run_id) {
  return Select("run_id = ?1", run_id);
}

std::string Ledger::Cursor(const std::string& type) {
  Stmt st(db_, "SELECT value FROM server_cursors WHERE server = ?1 AND type = ?2");
  if (!st.ok()) return "";
  BindText(st.get(), 1, server_);
  BindText(st.get(), 2, type);
  return sqlite3_step(st.get()) == SQLITE_ROW ? Col(st.get(), 0) : std::string();
}

fhir::Status Ledger::SetCursor(const std::string& type, const std::string& value,
                               const std::string& run_id) {
  if (FailpointFires("ledger-write-error")) {
    return fhir::Status::IoError("ledger " + path_ + ": write failed (failpoint)");
  }
  Stmt st(db_,
          "INSERT INTO server_cursors(server, type, value, run_id) VALUES(?1,?2,?3,?4) "
          "ON CONFLICT(server, type) DO UPDATE SET value=?3, run_id=?4, "
          "updated=strftime('%Y-%m-%dT%H:%M:%fZ','now')");
  if (!st.ok()) return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  BindText(st.get(), 1, server_);
  BindText(st.get(), 2, type);
  BindText(st.get(), 3, value);
  BindText(st.get(), 4, run_id);
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    return fhir::Status::IoError("ledger " + path_ + ": " + sqlite3_errmsg(db_));
  }
  return fhir::Status::Ok();
}

}  // namespace sdoh::writeback
