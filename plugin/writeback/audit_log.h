// The audit log (issue 5): one JSON object per line for every decision and write — ids,
// needs, codes, HTTP status, attempts and server ids only; never names, birth dates,
// addresses or free text (callers pass only such fields; there is no free-form field).
// File mode 0600 (fchmod on the open fd). On Open, lines older than the retention are dropped.
// A symlinked audit log (or its .tmp) is refused, never followed (issue 13).
#pragma once

#include <cstdio>
#include <string>

#include "fhir/datetime.h"
#include "fhir/status.h"

namespace sdoh::writeback {

struct AuditEvent {
  std::string event;       // decision | write | update | duplicate | retract | reconcile | error
  std::string action;      // create | exists | suppressed | open | update | inactivate | ...
  std::string type;        // ServiceRequest | Task | Flag
  std::string identifier;  // business identifier value
  std::string patient;     // patient id
  std::string need;
  std::string reason;   // a stable token plus references ("open ServiceRequest/12")
  int http_status = 0;  // 0: no HTTP exchange
  int attempts = 0;
  std::string server_id;  // "Type/id"
  std::string version;
  std::string issue_codes;  // OperationOutcome issue codes, comma-separated
};

class AuditLog {
 public:
  AuditLog() = default;
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (creating with mode 0600) `path` for appending, after dropping lines whose "ts" is
  // older than now - retention_days.
  fhir::Status Open(const std::string& path, int retention_days, fhir::InstantMicros now,
                    std::string run_id);
  void Write(const AuditEvent& e);  // a no-op when not open

 private:
  std::FILE* f_ = nullptr;
  std::string run_id_;
};

}  // namespace sdoh::writeback
