// ServerWriteback batching: pending creates packed into transaction Bundles
// (writeback.batch_size), recorded as sent before sending, a rejected Bundle split and retried
// smaller, confirmed in the ledger, then the duplicates check by identifier.
#include <algorithm>
#include <tuple>

#include "plugin/writeback/failpoint.h"
#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback::internal {

void ServerWriteback::Flush(bool everything) {
  (void)everything;
  if (pending_.empty()) return;
  std::vector<WriteGroup> groups = std::move(pending_);
  pending_.clear();
  pending_entries_ = 0;
  if (!Writes()) return;
  for (const auto& batch : PackBatches(groups, cfg_.writeback.batch_size)) {
    if (aborted_) break;
    SendBatch(batch);
  }
}

void ServerWriteback::SendBatch(const std::vector<const WriteGroup*>& groups) {
  if (batches_sent_ > 0) Failpoint("between-batches");
  // Recorded as sent before it is sent; nothing is sent unless that was recorded.
  fhir::Status recorded = ledger_.Begin();
  for (const WriteGroup* g : groups) {
    for (const WriteEntry& e : g->entries) {
      if (recorded.ok()) {
        recorded = ledger_.Upsert(
            {e.type, e.identifier, g->patient, g->need, "sent", "", "", ctx_.run_id});
      }
    }
  }
  if (recorded.ok()) recorded = ledger_.Commit();
  if (!recorded.ok()) ledger_.Rollback();
  if (!LedgerOk(recorded)) return;
  auto res = ctx_.client->Transaction(BuildTransaction(groups, system_));
  ++batches_sent_;
  if (!res.ok()) {
    const ClientError& e = res.error();
    const bool rejected = e.kind == ClientError::Kind::kHttp && e.http_status >= 400 &&
                          e.http_status < 500 && e.http_status != 408 && e.http_status != 429;
    if (rejected && groups.size() > 1) {
      // Split and retry smaller: the halves that are fine get written.
      ++counts_["transactions split"];
      audit_.Write({"write", "split", "Bundle", "", "", "", "rejected-transaction", e.http_status,
                    e.attempts, "", "", IssueCodes(e.issues)});
      std::vector<const WriteGroup*> a(groups.begin(), groups.begin() + groups.size() / 2);
      std::vector<const WriteGroup*> b(groups.begin() + groups.size() / 2, groups.end());
      SendBatch(a);
      if (!aborted_) SendBatch(b);
      return;
    }
    for (const WriteGroup* g : groups) {
      for (const WriteEntry& we : g->entries) {
        audit_.Write({"error", "create", we.type, we.identifier, g->patient, g->need,
                      rejected ? "rejected" : "uncertain", e.http_status, e.attempts, "", "",
                      IssueCodes(e.issues)});
        // Rejected: nothing was written (transactions are atomic). Otherwise it stays "sent"
        // and the next run reconciles it.
        if (rejected) {
          LedgerOk(ledger_.Upsert(
              {we.type, we.identifier, g->patient, g->need, "planned", "", "", ctx_.run_id}));
        }
      }
      std::string detail =
          std::string(fhir::client::KindName(e.kind)) + " HTTP " + std::to_string(e.http_status);
      for (const auto& i : e.issues) {
        detail += "; " + i.severity + "/" + i.code + ": " + i.diagnostics.substr(0, 200);
      }
      Error("Patient/" + g->patient + " need " + g->need + ": write " +
            (rejected ? "rejected" : "failed (will be reconciled on the next run)") + ": " +
            detail);
    }
    if (!rejected) aborted_ = true;
    return;
  }
  Failpoint("after-commit-before-ledger");
  size_t i = 0;
  std::vector<std::pair<const WriteGroup*, LedgerRow>> written;
  recorded = ledger_.Begin();
  for (const WriteGroup* g : groups) {
    for (const WriteEntry& e : g->entries) {
      const fhir::client::EntryResult* er = i < res->entries.size() ? &res->entries[i] : nullptr;
      ++i;
      auto [id, version] = IdVersion(er ? er->location : "");
      LedgerRow row{e.type,      e.identifier, g->patient, g->need,
                    "confirmed", id,           version,    ctx_.run_id};
      if (recorded.ok()) recorded = ledger_.Upsert(row);
      const bool created = er && er->status == 201;
      ++counts_[e.type + (created ? " created" : " already there")];
      audit_.Write({"write", created ? "created" : "exists", e.type, e.identifier, g->patient,
                    g->need, "", er ? er->status : 0, res->response.attempts, e.type + "/" + id,
                    version, ""});
      written.emplace_back(g, row);
    }
  }
  if (recorded.ok()) recorded = ledger_.Commit();
  if (!recorded.ok()) ledger_.Rollback();
  // Not recorded as confirmed: they stay "sent", and the next run reconciles them.
  if (!LedgerOk(recorded)) return;
  for (auto& [g, row] : written) {
    CheckDuplicates(*g, {row.type, row.identifier, ""}, &row);
  }
}

void ServerWriteback::CheckDuplicates(const WriteGroup& g, const WriteEntry& e, LedgerRow* row) {
  auto found = SearchAll(e.type, {{"identifier", system_ + "|" + e.identifier}});
  if (!found.ok()) {
    Error("Patient/" + g.patient + " need " + g.need + ": duplicate check of " + e.type +
          " failed: HTTP " + std::to_string(found.error().http_status));
    return;
  }
  std::vector<ServerResource> live;
  for (ServerResource& r : found.value()) {
    if (r.status != "entered-in-error") live.push_back(std::move(r));
  }
  if (live.size() <= 1) return;
  std::sort(live.begin(), live.end(), [](const ServerResource& a, const ServerResource& b) {
    return std::tie(a.last_updated, a.id) < std::tie(b.last_updated, b.id);
  });
  for (size_t k = 1; k < live.size(); ++k) {
    duplicates_.Add({{"patient", "Patient/" + g.patient},
                     {"need", g.need},
                     {"kept", live[0].Reference()},
                     {"duplicate", live[k].Reference()}});
    (void)Put(live[k], WithStatus(live[k].json, "entered-in-error"),
              {"duplicate", "mark-duplicate", e.type, e.identifier, g.patient, g.need,
               "duplicate-of " + live[0].Reference(), 0, 0, "", "", ""});
  }
  row->server_id = live[0].id;
  row->version = live[0].version;
  LedgerOk(ledger_.Upsert(*row));
}

}  // namespace sdoh::writeback::internal
