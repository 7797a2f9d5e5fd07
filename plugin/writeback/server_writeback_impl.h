// Internal to plugin/writeback/: the server writeback (server_writeback.h) as a class, shared
// by the files that implement it, one concern each:
//   server_writeback.cc          Begin (path, ledger, reconcile, cursor), reads, the factory
//   server_writeback_patient.cc  AddPatient: the decisions per need (referral, draft, Flag)
//   server_writeback_retract.cc  needs no longer positive: retraction, Flags inactivated
//   server_writeback_consent.cc  the Consent a route asks for
//   server_writeback_put.cc      updates (If-Match) of resources as the ledger recorded them
//   server_writeback_send.cc     batching, transaction Bundles, the duplicates check
//   server_writeback_finish.cc   the large-pass valve, cursors, plan and summary
//   server_writeback_loop.cc     issue 15: our referral Tasks followed to their outcome
// Not an API: everything else uses MakeServerWriteback.
#pragma once

#include <deque>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/fhir_client.h"
#include "plugin/pass/pass_sink.h"
#include "plugin/referrals/loop_policy.h"
#include "plugin/writeback/audit_log.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/lookup_pool.h"
#include "plugin/writeback/referral_policy.h"
#include "plugin/writeback/transaction_bundle.h"
#include "plugin/writeback/writeback_path.h"

namespace sdoh::writeback::internal {

using fhir::client::ClientError;
using fhir::client::ClientResult;

// The types whose sync cursors the ledger keeps.
inline const char* const kSyncTypes[] = {"Patient", "QuestionnaireResponse", "Observation"};

// "error/code,warning/code" of an OperationOutcome's issues.
std::string IssueCodes(const std::vector<fhir::client::OutcomeIssue>& issues);

// "…/Type/id/_history/v" → {id, v}
std::pair<std::string, std::string> IdVersion(const std::string& location);

// A JSON array of flat objects (empty values left out), for plan.json.
class JsonList {
 public:
  void Add(std::initializer_list<std::pair<const char*, std::string>> fields) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    for (const auto& [k, v] : fields) {
      if (v.empty()) continue;
      w.Key(k);
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    }
    w.EndObject();
    items_.push_back(sb.GetString());
  }
  std::string Json() const {
    std::string s = "[";
    for (size_t i = 0; i < items_.size(); ++i) s += (i ? ",\n  " : "\n  ") + items_[i];
    return s + (items_.empty() ? "]" : "\n]");
  }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::string> items_;
};

// One pass's writeback (the Writeback contract in plugin/pass/pass_sink.h). Not thread-safe:
// one pass, one thread calls it. With more than one thread (`threads:`, run --threads) the
// look-ups of the next patients run ahead on a LookupPool (issue 17); everything else — the
// decisions, the ledger, the writes, errors and audit lines — stays on the calling thread, in
// patient order.
class ServerWriteback : public Writeback {
 public:
  explicit ServerWriteback(const WritebackContext& ctx);

  fhir::Status Begin(std::string* since) override;
  void AddPatient(PatientPass pass) override;
  int Finish(const std::string& server_time, std::string* plan_members, std::ostream& out,
             std::ostream& err) override;

 private:
  // What the server holds for one patient (by subject), read once per patient.
  struct View {
    std::vector<ServerResource> srs, tasks, flags;
  };
  // The planned resources of one need that this pass may write (null: left out).
  struct Planned {
    const PlannedResource* sr = nullptr;
    const PlannedResource* task = nullptr;
    const PlannedResource* flag = nullptr;
  };
  // A draft ServiceRequest's state (issue 14 item 2): ours as the server holds it, the Consent
  // found for it, and the ServiceRequest JSON to create.
  struct Draft {
    std::string sr_json;
    std::string consent;
    const ServerResource* ours = nullptr;
  };

  // --- Begin (server_writeback.cc) ---
  fhir::Status RequireTaskRequesters() const;
  void FollowWritebackPath();
  fhir::Status OpenLedger();
  fhir::Status Reconcile();
  void ChooseSince(std::string* since);
  ClientResult<std::vector<ServerResource>> SearchAll(const std::string& type,
                                                      fhir::client::Params params);
  // One patient's look-ups (ServiceRequest, Task, Flag by subject; the first failure ends
  // them). Only the client: runs on a look-up thread.
  using Lookups = std::vector<ClientResult<std::vector<ServerResource>>>;
  Lookups ReadView(const std::string& patient);
  // The look-ups as a View; false (the error reported and audited) when one failed.
  bool TakeView(const std::string& patient, Lookups lookups, View* v);
  // The patient whose look-ups were submitted first, decided.
  void DecideOldest();
  // AddPatient once the patient's view is read.
  void Decide(const PatientPass& pass, const View& v);

  // --- One patient's needs (server_writeback_patient.cc) ---
  void PlanNeed(const std::string& pid, const ReferralPlan& plan, const NeedFlag& flag,
                const View& v);
  // Issue 14 item 1: a stale screening makes no referral; our active Flag goes inactive.
  void InactivateStaleFlag(const std::string& pid, const NeedFlag& flag, const View& v);
  Planned AllowedResources(const ReferralPlan& plan);
  Draft ResolveDraft(const std::string& pid, const ReferralPlan& plan, const View& v, Planned* p);
  void PlanReferral(const std::string& pid, const ReferralPlan& plan, const NeedFlag& flag,
                    const View& v, const Planned& p, const Draft& draft, WriteGroup* group);
  // Our drafts for the need superseded by the confirmed need are revoked; returns the
  // ServiceRequests that still count for the decision (v.srs itself, or *left).
  const std::vector<ServerResource>& RevokeSupersededDrafts(const std::string& pid,
                                                            const ReferralPlan& plan,
                                                            const PlannedResource& sr,
                                                            const View& v,
                                                            std::vector<ServerResource>* left);
  void PlanFlag(const std::string& pid, const ReferralPlan& plan, const PlannedResource& flag,
                const View& v, WriteGroup* group);
  void Queue(WriteGroup group);
  // The large-pass valve and the batch size, after each patient.
  void AfterPatient();

  // --- Needs no longer positive (server_writeback_retract.cc) ---
  void RetractNoLongerPositive(const std::string& pid, const std::set<std::string>& positive,
                               const View& v);
  // need -> reason, for the needs whose referrals were retracted.
  std::map<std::string, std::string> RetractOpenReferrals(const std::string& pid,
                                                          const std::set<std::string>& positive,
                                                          const View& v);
  // Whether a screening in the evidence of `srs` is now entered-in-error or gone (reads each).
  bool EvidenceRetracted(const std::vector<const ServerResource*>& srs);
  void CloseFlagsOfNeedsGone(const std::string& pid, const std::set<std::string>& positive,
                             std::map<std::string, std::string>& retracted, const View& v);

  // --- Sending (server_writeback_send.cc) ---
  void Flush(bool everything);
  void SendBatch(const std::vector<const WriteGroup*>& groups);
  void CheckDuplicates(const WriteGroup& g, const WriteEntry& e, LedgerRow* row);
  enum class PutResult { kDone, kSkipped, kFailed };
  // A PUT (If-Match) of `json` over `r`, as read from the server. Skipped (counted, reported,
  // audited) unless `r` is what the ledger recorded for ev.identifier and ev.patient and is
  // not final (issue 13).
  PutResult Put(const ServerResource& r, const std::string& json, AuditEvent ev);
  // False (and the pass stops writing to the server) when a ledger write failed (issue 13).
  bool LedgerOk(const fhir::Status& s);

  // --- Retraction (server_writeback_retract.cc) ---
  void Retract(const std::string& patient, const std::string& need, const View& v,
               const std::vector<const ServerResource*>& srs, const std::string& reason);
  // Whether this ServiceRequest of ours was written under a rule-set version the admin withdrew
  // (writeback.withdrawn_rulesets), read from its rule-set tag (identifiers.h).
  bool UnderWithdrawnRuleset(const ServerResource& sr) const;

  // --- Consent (server_writeback_consent.cc) ---
  // Issue 14 item 2: "Consent/<id>" of an active Consent for the patient that the route's
  // consent_category (and consent_policy, when set) ask for; "" when none.
  std::string FindConsent(const std::string& patient, const RouteConfig& route);

  // --- Closing the loop (server_writeback_loop.cc, issue 15 item 1) ---
  void FollowReferrals();
  bool RecordTask(const LoopTask& task, const LedgerRow& row);
  void ActOnLoop(LoopRow row);
  void CreateFollowUp(LoopRow& row, const std::string& kind);
  void CloseServiceRequest(LoopRow& row);
  void NoteCompletionOnFlag(const LoopRow& row);

  // --- Finish (server_writeback_finish.cc) ---
  void ReleaseHeldWrites();
  void SaveCursors(const std::string& server_time);
  void PrintPlan(std::string* plan_members, std::ostream& out) const;
  void PrintSummary(std::ostream& out) const;
  void PrintStops(std::ostream& out, std::ostream& err) const;
  void Error(const std::string& line) {
    ++errors_;
    if (error_lines_.size() < 50) error_lines_.push_back(line);
  }
  bool Writes() const { return !ctx_.dry_run && !aborted_; }
  bool MayWrite(const std::string& type) const { return path_.Allows(type); }

  WritebackContext ctx_;
  const Config& cfg_;
  std::string system_;
  Ledger ledger_;
  AuditLog audit_;
  bool incremental_ = false;
  // What the server lets us write (its CapabilityStatement and granted scopes), as `check`
  // reports it. None: the pass is a dry run.
  WritebackPath path_ = {{"ServiceRequest", "Task", "Flag"}};
  std::string path_note_;
  bool forced_dry_run_ = false;
  bool aborted_ = false;      // an uncertain write failure: stop writing; the next run reconciles
  std::string ledger_error_;  // a ledger write failed: nothing more is sent
  int batches_sent_ = 0;
  std::vector<WriteGroup> pending_;
  size_t pending_entries_ = 0;
  uint64_t errors_ = 0;
  std::vector<std::string> error_lines_;
  std::map<std::string, uint64_t> counts_;
  JsonList new_referrals_, already_open_, suppressed_, flags_, retractions_, duplicates_;
  // The large-pass valve (issue 14 item 1): without --allow-large every write of the pass is
  // held until Finish, which sends them only when the pass creates at most
  // writeback.max_new_referrals_per_pass referrals.
  struct HeldPut {
    ServerResource resource;
    std::string json;
    AuditEvent event;
  };
  bool holding_ = false;
  bool valve_ = false;
  std::vector<HeldPut> held_puts_;
  // Look-ups read ahead (issue 17): patients submitted, not yet decided, in order; at most
  // max_ahead_. The pool is declared last: destroyed first, it finishes what was submitted
  // while everything its tasks use is still alive.
  std::deque<std::pair<PatientPass, std::future<Lookups>>> ahead_;
  size_t max_ahead_ = 0;
  std::unique_ptr<LookupPool> lookups_;
};

}  // namespace sdoh::writeback::internal
