// ServerWriteback::FollowReferrals (issue 15 item 1): after the pass's own writes, our referral
// Tasks that changed since the loop cursor (`Task?identifier=<system>|&_lastUpdated=gt<cursor>`,
// less writeback.sync_overlap_seconds) are read; each new version's status transition is
// recorded in the ledger (loop_transitions, with time and statusReason) and the audit log
// (ids, statuses and time only: statusReason is free text and stays in the ledger). Then every
// followed referral is checked (loop_policy.h): a bounced or stalled one gets its follow-up Task
// (deterministic identifier, ledger row "sent" before the conditional create, so a crash or a
// rerun never makes two), a completed one has our ServiceRequest completed when still open.
#include <algorithm>
#include <optional>

#include "fhir/json.h"
#include "plugin/referrals/completions.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/writeback/failpoint.h"
#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback::internal {

namespace {

constexpr const char* kLoopCursor = "loop:Task";

std::optional<fhir::InstantMicros> Instant(const std::string& s) {
  return fhir::ParseFhirDateTime(s, fhir::TimeZone::Utc());
}

bool IsFollowUp(const std::string& identifier) { return identifier.rfind("followup-", 0) == 0; }

}  // namespace

void ServerWriteback::FollowReferrals() {
  if (ctx_.dry_run || aborted_ || valve_ || !ledger_error_.empty()) return;
  const std::string cursor = ledger_.Cursor(kLoopCursor);
  fhir::client::Params params{{"identifier", system_ + "|"}};
  if (auto t = Instant(cursor)) {
    const fhir::InstantMicros overlap =
        static_cast<fhir::InstantMicros>(cfg_.writeback.sync_overlap_seconds) * 1000000;
    params.emplace_back("_lastUpdated", "gt" + fhir::FormatInstantUtc(*t - overlap));
  }
  auto found = SearchAll("Task", params);
  if (!found.ok()) {
    Error("reading our referral Tasks failed: " + found.error().ToString());
    audit_.Write({"error", "read", "Task", "", "", "", "loop-read-failed",
                  found.error().http_status, found.error().attempts, "", "",
                  IssueCodes(found.error().issues)});
    return;
  }
  std::string newest = cursor;
  bool all_recorded = true;
  for (const ServerResource& r : found.value()) {
    LoopTask task = ReadLoopTask(r.json, system_);
    if (task.identifier.empty() || IsFollowUp(task.identifier)) continue;
    auto row = ledger_.Find("Task", task.identifier);
    if (!row || row->patient != task.patient) continue;  // not one this ledger wrote
    if (!RecordTask(task, *row)) {
      all_recorded = false;
      break;
    }
    auto t = Instant(task.last_updated);
    auto n = Instant(newest);
    if (t && (!n || *t > *n)) newest = task.last_updated;
  }
  if (!all_recorded) return;
  for (LoopRow& row : ledger_.LoopRows()) {
    if (aborted_) break;
    ActOnLoop(std::move(row));
  }
  if (errors_ == 0 && !aborted_ && !newest.empty() && newest != cursor) {
    LedgerOk(ledger_.SetCursor(kLoopCursor, newest, ctx_.run_id));
  }
}

// A new version of one of our referral Tasks: its transition (when the status changed) and the
// loop row, in one ledger commit. False when the ledger could not be written.
bool ServerWriteback::RecordTask(const LoopTask& task, const LedgerRow& row) {
  std::optional<LoopRow> prev = ledger_.FindLoop(task.identifier);
  if (prev && prev->version == task.version) return true;  // seen (the cursor overlap)
  LoopRow lr = prev ? *prev : LoopRow{};
  const bool changed = !prev || prev->status != task.status;
  lr.task = task.identifier;
  lr.patient = row.patient;
  lr.need = row.need;
  lr.task_id = task.id;
  lr.version = task.version;
  if (changed) lr.status_since = task.last_updated;
  lr.status = task.status;
  lr.status_reason = task.status_reason;
  lr.performer = task.owner;
  lr.authored = task.authored;
  lr.output = task.output;
  lr.service_request = task.focus;
  fhir::Status s = ledger_.Begin();
  if (s.ok() && changed) {
    s = ledger_.AddTransition({task.identifier, task.version, prev ? prev->status : "", task.status,
                               task.last_updated, task.status_reason, ctx_.run_id});
  }
  if (s.ok()) s = ledger_.UpsertLoop(lr);
  if (s.ok()) s = ledger_.Commit();
  if (!s.ok()) ledger_.Rollback();
  if (!LedgerOk(s)) return false;
  if (changed) {
    audit_.Write({"loop", "transition", "Task", task.identifier, row.patient, row.need,
                  (prev ? prev->status : std::string("new")) + "->" + task.status + " at " +
                      task.last_updated + (task.output.empty() ? "" : " output " + task.output),
                  0, 0, "Task/" + task.id, task.version, ""});
    ++counts_["loop: " + task.status];
  }
  return true;
}

// The policy for one followed referral (loop_policy.h), from the ledger alone except for the
// ServiceRequest of a completed Task, which is read once to close it.
void ServerWriteback::ActOnLoop(LoopRow row) {
  if (row.status == "completed") {
    if (row.sr_status != "completed" && row.sr_status != "revoked" &&
        row.sr_status != "entered-in-error") {
      CloseServiceRequest(row);
    }
    NoteCompletionOnFlag(row);
    return;
  }
  auto identity = ParseIdentifier(row.task, row.patient, *ctx_.catalog);
  if (!identity) return;
  auto task_row = ledger_.Find("Task", row.task);
  auto sr_row = ledger_.Find("ServiceRequest", identity->service_request);
  // Retracted or revoked by us (the need went away, a withdrawn rule set, `revoke`): not a bounce.
  const bool open = task_row && task_row->state != "revoked" && sr_row &&
                    sr_row->state != "revoked" && row.sr_status != "revoked" &&
                    row.sr_status != "entered-in-error";
  const fhir::InstantMicros since = Instant(row.status_since).value_or(ctx_.now);
  LoopTask task;
  task.status = row.status;
  task.authored = row.authored;
  LoopDecision d = DecideLoop(task, since, open, "", ctx_.now, cfg_.loop);
  if (!d.follow_up_kind.empty()) CreateFollowUp(row, d.follow_up_kind);
}

void ServerWriteback::CreateFollowUp(LoopRow& row, const std::string& kind) {
  const std::string id = FollowUpIdentifier(row.task, kind);
  auto existing = ledger_.Find("Task", id);
  if (existing && existing->state == "confirmed") {  // exactly once
    if (row.follow_up != id) {  // confirmed by Reconcile after a crash: the loop row learns it
      row.follow_up = id;
      row.follow_up_kind = kind;
      LedgerOk(ledger_.UpsertLoop(row));
    }
    return;
  }
  if (!MayWrite("Task")) {
    ++counts_["loop: follow-up not written (server does not allow Task)"];
    return;
  }
  const NeedDef* def = ctx_.catalog->FindNeed(row.need);
  auto route = def ? cfg_.routes.find(def->route) : cfg_.routes.end();
  if (route == cfg_.routes.end()) return;
  LoopTask task;
  task.id = row.task_id;
  task.patient = row.patient;
  task.owner = row.performer;
  task.status_reason = row.status_reason;
  const std::string json = BuildFollowUpTask(task, kind, id, route->second, system_, ctx_.now);
  LedgerRow lrow{"Task", id, row.patient, row.need, "sent", "", "", ctx_.run_id};
  if (!LedgerOk(ledger_.Upsert(lrow))) return;
  Failpoint("loop-before-follow-up");
  auto res = ctx_.client->ConditionalCreate("Task", json, "identifier=" + system_ + "|" + id);
  AuditEvent ev{
      "loop", "follow-up", "Task", id, row.patient, row.need, kind + " Task/" + row.task_id,
      0,      0,           "",     "", ""};
  if (!res.ok()) {
    ev.event = "error";
    ev.http_status = res.error().http_status;
    ev.attempts = res.error().attempts;
    ev.issue_codes = IssueCodes(res.error().issues);
    audit_.Write(ev);
    Error("Patient/" + row.patient + " need " + row.need + ": follow-up Task for Task/" +
          row.task_id + " failed: HTTP " + std::to_string(res.error().http_status));
    return;  // the row stays "sent": the next pass reconciles it by identifier
  }
  Failpoint("loop-after-follow-up");
  auto [server_id, version] = IdVersion(res->location);
  if (server_id.empty() && res->body) {
    server_id = std::string(fhir::json::StrMember(*res->body, "id"));
  }
  lrow.state = "confirmed";
  lrow.server_id = server_id;
  lrow.version = version;
  row.follow_up = id;
  row.follow_up_kind = kind;
  fhir::Status s = ledger_.Begin();
  if (s.ok()) s = ledger_.Upsert(lrow);
  if (s.ok()) s = ledger_.UpsertLoop(row);
  if (s.ok()) s = ledger_.Commit();
  if (!s.ok()) ledger_.Rollback();
  if (!LedgerOk(s)) return;
  ev.http_status = res->status;
  ev.attempts = res->attempts;
  ev.server_id = "Task/" + server_id;
  ev.version = version;
  audit_.Write(ev);
  ++counts_[res->status == 201 ? "loop: follow-up Tasks created" : "loop: follow-up Tasks found"];
}

// Task completed: our ServiceRequest is set completed when the performer left it open.
void ServerWriteback::CloseServiceRequest(LoopRow& row) {
  const std::string sr_id(fhir::json::ReferenceId(row.service_request, "ServiceRequest"));
  if (sr_id.empty()) return;
  auto read = ctx_.client->Read("ServiceRequest", sr_id);
  if (!read.ok() || !read->body) {
    Error("Patient/" + row.patient + " need " + row.need + ": reading " + row.service_request +
          " failed");
    return;
  }
  ServerResource sr = ParseServerResource(*read->body, system_);
  if (sr.status == "active" || sr.status == "on-hold") {
    if (Put(sr, WithStatus(sr.json, "completed"),
            {"loop", "complete", "ServiceRequest", sr.identifier, row.patient, row.need,
             "task-completed Task/" + row.task_id, 0, 0, "", "", ""}) != PutResult::kDone) {
      return;
    }
    row.sr_status = "completed";
  } else {
    row.sr_status = sr.status;
  }
  LedgerOk(ledger_.UpsertLoop(row));
}

// Task completed: our Flag for the (patient, need) says so, and goes inactive after
// flags.after_completion_days (completions.h: the same edit the pass's planner makes for the
// patients it evaluates). The ledger's loop_flags row remembers what was applied ("noted",
// "inactive"), so the Flag is read at most once per step.
void ServerWriteback::NoteCompletionOnFlag(const LoopRow& row) {
  auto completed = Instant(row.status_since);
  if (!completed) return;
  const int days = cfg_.flags.after_completion_days;
  auto end = CompletionFlagEnd(*completed, days);
  const std::string want = end && ctx_.now >= *end ? "inactive" : "noted";
  if (ledger_.FlagApplied(row.task) == want) return;
  if (!MayWrite("Flag")) return;
  const std::string fid = FlagIdentifier(row.patient, row.need);
  auto found = SearchAll("Flag", {{"identifier", system_ + "|" + fid}});
  if (!found.ok()) {
    Error("Patient/" + row.patient + " need " + row.need +
          ": reading our Flag failed: " + found.error().ToString());
    return;
  }
  for (const ServerResource& f : found.value()) {
    if (f.identifier != fid || f.subject != "Patient/" + row.patient || f.status != "active") {
      continue;
    }
    rapidjson::Document d;
    d.Parse(f.json.c_str());
    std::optional<fhir::InstantMicros> screened;
    if (!d.HasParseError() && d.IsObject()) {
      if (const rapidjson::Value* period = fhir::json::Member(d, "period")) {
        screened = Instant(std::string(fhir::json::StrMember(*period, "start")));
      }
    }
    if (!CompletionApplies(screened, *completed)) continue;  // a newer screening's Flag
    const std::string edited =
        FlagWithCompletion(f.json, *completed, ctx_.now, days, cfg_.time_zone);
    if (DecideFlag(edited, &f) != FlagAction::kUpdate) continue;
    if (Put(f, edited,
            {"loop", want == "inactive" ? "flag-inactive" : "flag-completed", "Flag", f.identifier,
             row.patient, row.need, "task-completed Task/" + row.task_id, 0, 0, "", "", ""}) !=
        PutResult::kDone) {
      return;  // tried again next pass
    }
    ++counts_[want == "inactive" ? "loop: Flags ended after completion"
                                 : "loop: Flags noting a completed referral"];
  }
  LedgerOk(ledger_.SetFlagApplied(row.task, want));
}

}  // namespace sdoh::writeback::internal
