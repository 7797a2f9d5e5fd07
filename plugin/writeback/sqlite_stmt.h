// One prepared SQLite statement, finalized with its scope (the ledger's tables: the loop's Task
// states, CDS feedback). Text binds are copied (SQLITE_TRANSIENT).
#pragma once

#include <string>

#include <sqlite3.h>

namespace sdoh::writeback {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() const { return st_; }
  bool ok() const { return st_ != nullptr; }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  std::string Col(int i) const {
    const unsigned char* t = sqlite3_column_text(st_, i);
    return t == nullptr ? std::string() : reinterpret_cast<const char*>(t);
  }

 private:
  sqlite3_stmt* st_ = nullptr;
};

}  // namespace sdoh::writeback
