// Opening the ledger file for a side table that is written outside the run lock (CDS feedback,
// bulk export resume state): the file and its -wal/-shm/-journal must not be symlinks, a new
// file is created 0600 (without touching the process umask: `serve` has other threads), then
// it is opened read-write (SQLITE_OPEN_NOFOLLOW, WAL, a 10 s busy timeout) and `schema` run.
#pragma once

#include <string>

#include <sqlite3.h>

#include "fhir/status.h"

namespace sdoh::writeback {

// The open connection (the caller closes it). NotFound when the file is missing and `create`
// is false; IoError naming the path otherwise.
fhir::Result<sqlite3*> OpenLedgerTables(const std::string& ledger_path, bool create,
                                        const char* schema);

}  // namespace sdoh::writeback
