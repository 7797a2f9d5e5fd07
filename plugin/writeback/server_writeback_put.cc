// ServerWriteback::Put: updates (If-Match) of resources already on the server, only as the
// ledger recorded them (issue 13), held while the large-pass valve decides; LedgerOk.
#include <optional>

#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback::internal {

bool ServerWriteback::LedgerOk(const fhir::Status& s) {
  if (s.ok()) return true;
  if (ledger_error_.empty()) {
    ledger_error_ = s.message();
    Error("the ledger could not be written (" + s.message() +
          "); stopped writing to the server — nothing more was sent");
    audit_.Write(
        {"error", "ledger-write", "", "", "", "", "ledger-write-failed", 0, 0, "", "", ""});
  }
  aborted_ = true;
  return false;
}

ServerWriteback::PutResult ServerWriteback::Put(const ServerResource& r, const std::string& json,
                                                AuditEvent ev) {
  if (holding_) {  // the large-pass valve decides in Finish; the checks below run then
    if (!valve_) held_puts_.push_back({r, json, std::move(ev)});
    return PutResult::kDone;
  }
  if (!MayWrite(r.type)) {  // the server's writeback path leaves this type out
    ++counts_["not updated (server does not allow " + r.type + ")"];
    return PutResult::kSkipped;
  }
  ev.server_id = r.Reference();
  // Issue 13: only what the ledger recorded (identifier and subject), and never a closed one.
  // Looked up by the identifier the server holds (an update may give it a new one).
  std::string skip;
  auto row = r.identifier.empty() ? std::nullopt : ledger_.Find(r.type, r.identifier);
  if (!row || row->patient != ev.patient) {
    skip = "not-ours (not in the ledger for this patient)";
  } else {
    skip = NotAsRecorded(r, row->identifier, row->patient);
  }
  if (skip.empty() && IsFinal(r)) skip = "final (" + r.status + ")";
  if (!skip.empty()) {
    ++counts_[skip.rfind("final", 0) == 0 ? "skipped: final on the server, left as is"
                                          : "skipped: not as the ledger recorded it"];
    ev.event = "skip";
    ev.reason = skip;
    audit_.Write(ev);
    return PutResult::kSkipped;
  }
  auto res = ctx_.client->Update(r.type, r.id, json, r.version);
  if (!res.ok()) {
    ev.event = "error";
    ev.http_status = res.error().http_status;
    ev.attempts = res.error().attempts;
    ev.issue_codes = IssueCodes(res.error().issues);
    audit_.Write(ev);
    Error("Patient/" + ev.patient + " need " + ev.need + ": " + ev.action + " of " + r.Reference() +
          " failed: HTTP " + std::to_string(res.error().http_status) + " " + ev.issue_codes);
    return PutResult::kFailed;
  }
  ev.http_status = res->status;
  ev.attempts = res->attempts;
  ev.version = IdVersion(res->location.empty() ? res->etag : res->location).second;
  audit_.Write(ev);
  ++counts_[ev.action];
  if (ev.action == "revoke" || ev.action == "cancel" || ev.action == "flag-entered-in-error") {
    row->state = "revoked";
  }
  if (LedgerOk(ledger_.Upsert(*row)) && ev.identifier != row->identifier) {
    LedgerRow renamed = *row;
    renamed.identifier = ev.identifier;
    LedgerOk(ledger_.Upsert(renamed));
  }
  return PutResult::kDone;
}

}  // namespace sdoh::writeback::internal
