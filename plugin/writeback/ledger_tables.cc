#include "plugin/writeback/ledger_tables.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sdoh::writeback {

fhir::Result<sqlite3*> OpenLedgerTables(const std::string& ledger_path, bool create,
                                        const char* schema) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    struct stat st;
    const std::string p = ledger_path + suffix;
    if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return fhir::Status::IoError("ledger file " + p +
                                   " is a symlink; sdoh-bridge does not follow symlinks there — "
                                   "replace it with a regular file or remove it");
    }
  }
  struct stat st;
  if (::stat(ledger_path.c_str(), &st) != 0) {
    if (!create) return fhir::Status::NotFound("no ledger at " + ledger_path);
    int fd = ::open(ledger_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      return fhir::Status::IoError("cannot create ledger " + ledger_path + ": " +
                                   std::strerror(errno));
    }
    ::close(fd);
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(ledger_path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
                           nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close(db);
    return fhir::Status::IoError("cannot open ledger " + ledger_path + ": " + sqlite3_errstr(rc));
  }
  sqlite3_busy_timeout(db, 10000);
  for (const char* sql : {"PRAGMA journal_mode=WAL", schema}) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg != nullptr ? msg : "unknown error";
      sqlite3_free(msg);
      sqlite3_close(db);
      return fhir::Status::IoError("ledger " + ledger_path + ": " + m);
    }
  }
  return db;
}

}  // namespace sdoh::writeback
