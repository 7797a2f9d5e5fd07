// ServerWriteback::Finish: the large-pass valve's decision (issue 14 item 1), the last batch,
// the sync cursors, and what the pass reports (plan.json members, console summary, errors).
#include <ostream>

#include "plugin/writeback/server_writeback.h"
#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback::internal {

int ServerWriteback::Finish(const std::string& server_time, std::string* plan_members,
                            std::ostream& out, std::ostream& err) {
  while (!ahead_.empty()) DecideOldest();  // the patients whose look-ups ran ahead
  ReleaseHeldWrites();
  Flush(true);
  FollowReferrals();
  const bool ok = errors_ == 0 && !aborted_ && !valve_;
  if (!ctx_.dry_run && ok && !server_time.empty()) SaveCursors(server_time);
  if (ctx_.dry_run) {
    PrintPlan(plan_members, out);
  } else {
    PrintSummary(out);
  }
  PrintStops(out, err);
  return ok && ledger_error_.empty() ? 0 : 1;
}

// Without --allow-large the writes were held: written now unless the pass creates more than
// writeback.max_new_referrals_per_pass referrals.
void ServerWriteback::ReleaseHeldWrites() {
  if (!holding_) return;
  const size_t max_new = static_cast<size_t>(cfg_.writeback.max_new_referrals_per_pass);
  holding_ = false;
  valve_ = valve_ || new_referrals_.size() > max_new;
  if (valve_) {
    pending_.clear();
    pending_entries_ = 0;
    held_puts_.clear();
  } else {
    std::vector<HeldPut> puts = std::move(held_puts_);
    held_puts_.clear();
    for (HeldPut& h : puts) Put(h.resource, h.json, std::move(h.event));
  }
}

void ServerWriteback::SaveCursors(const std::string& server_time) {
  fhir::Status s = ledger_.Begin();
  for (const char* t : kSyncTypes) {
    if (s.ok()) s = ledger_.SetCursor(t, server_time, ctx_.run_id);
  }
  if (s.ok()) s = ledger_.Commit();
  if (!s.ok()) ledger_.Rollback();
  LedgerOk(s);
}

void ServerWriteback::PrintPlan(std::string* plan_members, std::ostream& out) const {
  *plan_members =
      "\"new_referrals\":" + new_referrals_.Json() + ",\n\"already_open\":" + already_open_.Json() +
      ",\n\"suppressed\":" + suppressed_.Json() + ",\n\"flags_to_update\":" + flags_.Json() +
      ",\n\"retractions\":" + retractions_.Json() + "\n";
  out << "  plan (dry run, nothing written to the server"
      << (forced_dry_run_ ? ": the server allows no referral writes, see `sdoh-bridge check`" : "")
      << ")\n";
  out << "      new referrals  " << new_referrals_.size() << "\n";
  out << "      already open   " << already_open_.size() << "\n";
  out << "      suppressed     " << suppressed_.size() << "\n";
  out << "      flags          " << flags_.size() << " to create, update or inactivate\n";
  out << "      retractions    " << retractions_.size() << "\n";
  out << "  plan.json:\n{" << *plan_members << "}\n";
}

void ServerWriteback::PrintSummary(std::ostream& out) const {
  out << "  writeback   " << (incremental_ ? "incremental" : "full") << " pass, " << batches_sent_
      << " transaction(s)\n";
  if (!path_note_.empty()) out << "      note  " << path_note_ << "\n";
  for (const auto& [k, v] : counts_) out << "      " << k << "  " << v << "\n";
  out << "      suppressed  " << suppressed_.size() << "\n";
  out << "      duplicates  " << duplicates_.size() << " found and marked entered-in-error\n";
  out << "      retracted   " << retractions_.size() << "\n";
  out << "      errors      " << errors_ << "\n";
  out << "  ledger      " << LedgerPath(cfg_) << "\n";
  out << "  audit       " << AuditPath(cfg_) << "\n";
}

// The large-pass valve, the errors, and why writing stopped, if it did.
void ServerWriteback::PrintStops(std::ostream& out, std::ostream& err) const {
  const size_t max_new = static_cast<size_t>(cfg_.writeback.max_new_referrals_per_pass);
  if (valve_) {
    err << "sdoh-bridge: writeback: this pass would create " << new_referrals_.size()
        << " new referrals, more than writeback.max_new_referrals_per_pass (" << max_new
        << "): nothing was written to the server. Check the source, screening.max_age_days and "
           "the routes (sdoh-bridge run --dry-run shows the plan); to write them anyway, run "
           "again with --allow-large\n";
  } else if (ctx_.dry_run && new_referrals_.size() > max_new) {
    out << "  note        " << new_referrals_.size()
        << " new referrals: more than writeback.max_new_referrals_per_pass (" << max_new
        << "); a real pass writes nothing unless --allow-large\n";
  }
  for (const std::string& l : error_lines_) err << "sdoh-bridge: writeback: " << l << "\n";
  if (!ledger_error_.empty()) {
    out << "  stopped     the ledger could not be written: nothing more was sent to the server\n";
    err << "sdoh-bridge: writeback stopped: the ledger could not be written (" << ledger_error_
        << "); what was sent and not recorded is reconciled by the next run\n";
  } else if (aborted_) {
    err << "sdoh-bridge: writeback stopped after an uncertain failure; the next run reconciles\n";
  }
}

}  // namespace sdoh::writeback::internal
