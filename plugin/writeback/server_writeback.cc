#include "plugin/writeback/server_writeback.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/fhir_client.h"
#include "fhir/json.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/writeback/audit_log.h"
#include "plugin/writeback/failpoint.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/referral_policy.h"
#include "plugin/writeback/transaction_bundle.h"
#include "plugin/writeback/writeback_path.h"

namespace sdoh::writeback {

namespace fs = std::filesystem;
using fhir::client::ClientError;
using fhir::client::ClientResult;

std::string LedgerPath(const Config& c) {
  return c.writeback.ledger.empty() ? (fs::path(c.out) / "ledger.sqlite").string()
                                    : c.writeback.ledger;
}
std::string AuditPath(const Config& c) {
  return c.writeback.audit_log.empty() ? (fs::path(c.out) / "audit.jsonl").string()
                                       : c.writeback.audit_log;
}

namespace {

const char* const kSyncTypes[] = {"Patient", "QuestionnaireResponse", "Observation"};

std::string IssueCodes(const std::vector<fhir::client::OutcomeIssue>& issues) {
  std::string s;
  for (const auto& i : issues) s += (s.empty() ? "" : ",") + i.severity + "/" + i.code;
  return s;
}

// "…/Type/id/_history/v" → {id, v}
std::pair<std::string, std::string> IdVersion(const std::string& location) {
  std::string loc = location;
  std::string version;
  if (auto h = loc.find("/_history/"); h != std::string::npos) {
    version = loc.substr(h + 10);
    loc.resize(h);
  }
  auto slash = loc.rfind('/');
  return {slash == std::string::npos ? loc : loc.substr(slash + 1), version};
}

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

class ServerWriteback : public Writeback {
 public:
  explicit ServerWriteback(const WritebackContext& ctx)
      : ctx_(ctx), cfg_(*ctx.config), system_(cfg_.identifier_system) {}

  fhir::Status Begin(std::string* since) override;
  void AddPatient(PatientPass pass) override;
  int Finish(const std::string& server_time, std::string* plan_members, std::ostream& out,
             std::ostream& err) override;

 private:
  struct View {
    std::vector<ServerResource> srs, tasks, flags;
  };
  ClientResult<std::vector<ServerResource>> SearchAll(const std::string& type,
                                                      fhir::client::Params params);
  bool Load(const std::string& patient, View* v);
  void Flush(bool everything);
  void SendBatch(const std::vector<const WriteGroup*>& groups);
  void CheckDuplicates(const WriteGroup& g, const WriteEntry& e, LedgerRow* row);
  bool Put(const ServerResource& r, const std::string& json, AuditEvent ev);
  void Retract(const std::string& patient, const std::string& need, const View& v,
               const std::vector<const ServerResource*>& srs, const std::string& reason);
  // Whether this ServiceRequest of ours was written under a rule-set version the admin withdrew
  // (writeback.withdrawn_rulesets), read from its rule-set tag (identifiers.h).
  bool UnderWithdrawnRuleset(const ServerResource& sr) const;
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
  bool aborted_ = false;  // an uncertain write failure: stop writing; the next run reconciles
  int batches_sent_ = 0;
  std::vector<WriteGroup> pending_;
  size_t pending_entries_ = 0;
  uint64_t errors_ = 0;
  std::vector<std::string> error_lines_;
  std::map<std::string, uint64_t> counts_;
  JsonList new_referrals_, already_open_, suppressed_, flags_, retractions_, duplicates_;
};

fhir::Status ServerWriteback::Begin(std::string* since) {
  // SDOHCC Task for referral management: requester 1..1. Nothing is written without one.
  for (const auto& [name, route] : cfg_.routes) {
    for (const std::string& type : route.resources) {
      if (type == "Task" && route.requester.empty()) {
        return fhir::Status::InvalidArgument(
            "referrals.routes." + name +
            ".requester: the route writes a Task, and an SDOHCC Task needs a requester "
            "(Task.requester 1..1); set it in the config");
      }
    }
  }
  if (!ctx_.dry_run) {
    // Follow the writeback path `check` reports.
    auto cs = ctx_.client->Capabilities();
    if (cs.ok() && cs->body) {
      path_ = ComputeWritebackPath(*cs->body, ctx_.client->auth().GrantedScope());
      if (!path_.all()) path_note_ = "server allows " + path_.Describe();
    } else {
      path_note_ = "CapabilityStatement not readable (" +
                   (cs.ok() ? std::string("no body") : cs.error().ToString()) +
                   "): writing as configured";
    }
    if (path_.none()) {
      ctx_.dry_run = true;
      forced_dry_run_ = true;
    }
  }
  if (!ctx_.dry_run) {
    if (fhir::Status s = ledger_.Open(LedgerPath(cfg_), cfg_.writeback.lock_wait_seconds);
        !s.ok()) {
      return s;
    }
    if (fhir::Status s = audit_.Open(AuditPath(cfg_), cfg_.writeback.audit_retention_days, ctx_.now,
                                     ctx_.run_id);
        !s.ok()) {
      return s;
    }
    // Reconcile: a resource sent but never confirmed is looked up by identifier.
    for (LedgerRow row : ledger_.InState("sent")) {
      auto found = SearchAll(row.type, {{"identifier", system_ + "|" + row.identifier}});
      if (!found.ok()) {
        return fhir::Status::Unavailable("reconciling the ledger with the server failed: " +
                                         found.error().ToString());
      }
      const ServerResource* hit = nullptr;
      for (const ServerResource& r : found.value()) {
        if (r.status != "entered-in-error" &&
            (hit == nullptr || r.last_updated < hit->last_updated))
          hit = &r;
      }
      AuditEvent ev{"reconcile", hit ? "confirmed" : "resend",
                    row.type,    row.identifier,
                    row.patient, row.need,
                    "",          0,
                    0,           "",
                    "",          ""};
      if (hit != nullptr) {
        row.state = "confirmed";
        row.server_id = hit->id;
        row.version = hit->version;
        ev.server_id = hit->Reference();
        ev.version = hit->version;
      } else {
        row.state = "planned";
      }
      if (fhir::Status s = ledger_.Upsert(row); !s.ok()) return s;
      audit_.Write(ev);
      ++counts_[hit ? "reconciled: confirmed" : "reconciled: to resend"];
      Failpoint("during-reconcile");
    }
  }
  if (!ctx_.since.empty()) {
    *since = ctx_.since;
  } else if (!ctx_.full && !ctx_.dry_run) {
    // One cursor per synced type; the pass starts from the oldest, and a type that has none
    // yet (never fully synced) makes it a full pass.
    std::optional<fhir::InstantMicros> oldest;
    bool all = true;
    for (const char* type : kSyncTypes) {
      auto t = fhir::ParseFhirDateTime(ledger_.Cursor(type), fhir::TimeZone::Utc());
      if (!t) {
        all = false;
        break;
      }
      if (!oldest || *t < *oldest) oldest = *t;
    }
    if (all && oldest) {
      *since = fhir::FormatInstantUtc(
          *oldest -
          static_cast<fhir::InstantMicros>(cfg_.writeback.sync_overlap_seconds) * 1000000);
    }
  }
  incremental_ = !since->empty();
  return fhir::Status::Ok();
}

ClientResult<std::vector<ServerResource>> ServerWriteback::SearchAll(const std::string& type,
                                                                     fhir::client::Params params) {
  params.emplace_back("_count", "100");
  auto pager = ctx_.client->Pages(type, std::move(params));
  std::vector<ServerResource> out;
  while (true) {
    auto more = pager.Next();
    if (!more.ok()) return more.error();
    if (!more.value()) break;
    if (const rapidjson::Value* entries = fhir::json::ArrayMember(pager.page(), "entry")) {
      for (const auto& e : entries->GetArray()) {
        const rapidjson::Value* r = fhir::json::Member(e, "resource");
        if (r != nullptr && fhir::json::StrMember(*r, "resourceType") == type) {
          out.push_back(ParseServerResource(*r, system_));
        }
      }
    }
  }
  return out;
}

bool ServerWriteback::Load(const std::string& patient, View* v) {
  struct Q {
    const char* type;
    std::vector<ServerResource>* into;
  };
  for (Q q : {Q{"ServiceRequest", &v->srs}, Q{"Task", &v->tasks}, Q{"Flag", &v->flags}}) {
    auto r = SearchAll(q.type, {{"subject", "Patient/" + patient}});
    if (!r.ok()) {
      Error("Patient/" + patient + ": reading " + q.type +
            " failed: " + std::string(fhir::client::KindName(r.error().kind)) + " HTTP " +
            std::to_string(r.error().http_status));
      audit_.Write({"error", "read", q.type, "", patient, "", "server-read-failed",
                    r.error().http_status, r.error().attempts, "", "",
                    IssueCodes(r.error().issues)});
      return false;
    }
    *q.into = std::move(r.value());
  }
  return true;
}

void ServerWriteback::AddPatient(PatientPass pass) {
  const std::string& pid = pass.patient_id;
  std::set<std::string> positive;
  for (const NeedFlag& f : pass.flags) positive.insert(f.need);
  bool any_resources = false;
  for (const ReferralPlan& p : pass.plans) any_resources |= !p.resources.empty();
  View v;
  if (!Load(pid, &v)) return;
  if (!any_resources && v.srs.empty() && v.flags.empty()) return;

  for (size_t i = 0; i < pass.plans.size(); ++i) {
    const ReferralPlan& plan = pass.plans[i];
    const NeedFlag& flag = pass.flags[i];
    if (plan.resources.empty()) continue;
    WriteGroup group{pid, plan.need, {}, ""};
    const PlannedResource* sr = nullptr;
    const PlannedResource* task = nullptr;
    const PlannedResource* flag_res = nullptr;
    for (const PlannedResource& r : plan.resources) {
      if (r.type == "ServiceRequest") sr = &r;
      if (r.type == "Task") task = &r;
      if (r.type == "Flag") flag_res = &r;
    }
    // Types the server does not let us write are left out (a Task needs its ServiceRequest).
    if (!forced_dry_run_) {
      if (sr != nullptr && !MayWrite("ServiceRequest")) {
        ++counts_["not written (server does not allow ServiceRequest)"];
        sr = nullptr;
      }
      if (task != nullptr && (!MayWrite("Task") || !MayWrite("ServiceRequest"))) {
        ++counts_["not written (server does not allow Task)"];
        task = nullptr;
      }
      if (flag_res != nullptr && !MayWrite("Flag")) {
        ++counts_["not written (server does not allow Flag)"];
        flag_res = nullptr;
      }
    }
    if (sr != nullptr) {
      ReferralQuery q{
          sr->identifier, task ? task->identifier : "",   flag.def->domain.code, flag.screened_at,
          ctx_.now,       cfg_.writeback.suppression_days};
      ReferralDecision d = DecideReferral(q, v.srs, v.tasks);
      AuditEvent ev{"decision",     "",  "ServiceRequest",
                    sr->identifier, pid, plan.need,
                    d.reason,       0,   0,
                    d.existing_sr,  "",  ""};
      switch (d.action) {
        case ReferralAction::kCreate:
          ev.action = "create";
          group.entries.push_back({"ServiceRequest", sr->identifier, sr->json});
          if (task != nullptr) group.entries.push_back({"Task", task->identifier, task->json});
          new_referrals_.Add({{"patient", "Patient/" + pid},
                              {"need", plan.need},
                              {"ServiceRequest", sr->identifier},
                              {"Task", task ? task->identifier : ""}});
          break;
        case ReferralAction::kCreateTask:
          ev.action = "create-task";
          group.task_focus = d.existing_sr;
          group.entries.push_back({"Task", task->identifier, task->json});
          already_open_.Add({{"patient", "Patient/" + pid},
                             {"need", plan.need},
                             {"reference", d.existing_sr},
                             {"note", "its Task is created"}});
          break;
        case ReferralAction::kExists:
          ev.action = "exists";
          ++counts_["referrals already on the server"];
          already_open_.Add(
              {{"patient", "Patient/" + pid}, {"need", plan.need}, {"reference", d.existing_sr}});
          break;
        case ReferralAction::kSuppressed:
          ev.action = "suppressed";
          ++counts_["referrals suppressed"];
          suppressed_.Add(
              {{"patient", "Patient/" + pid}, {"need", plan.need}, {"reason", d.reason}});
          break;
      }
      audit_.Write(ev);
    }
    if (flag_res != nullptr) {
      const ServerResource* existing = nullptr;
      for (const ServerResource& f : v.flags) {
        if (f.identifier == flag_res->identifier) existing = &f;
      }
      if (existing == nullptr) {  // a format-1 Flag of this need is updated to the new identifier
        for (const ServerResource& f : v.flags) {
          auto id = ParseIdentifier(f.identifier, pid, *ctx_.catalog);
          if (id && id->legacy && id->kind == IdentifierKind::kFlag && id->need == plan.need) {
            existing = &f;
          }
        }
      }
      FlagAction fa = DecideFlag(flag_res->json, existing);
      if (fa == FlagAction::kCreate) {
        group.entries.push_back({"Flag", flag_res->identifier, flag_res->json});
        flags_.Add({{"patient", "Patient/" + pid},
                    {"need", plan.need},
                    {"identifier", flag_res->identifier},
                    {"action", "create"}});
      } else if (fa == FlagAction::kUpdate) {
        flags_.Add({{"patient", "Patient/" + pid},
                    {"need", plan.need},
                    {"identifier", flag_res->identifier},
                    {"reference", existing->Reference()},
                    {"action", "update"}});
        if (Writes()) {
          Put(*existing, WithStatus(flag_res->json, "active", existing->id),
              {"update", "flag-update", "Flag", flag_res->identifier, pid, plan.need, "rescreen", 0,
               0, "", "", ""});
        }
      }
    }
    if (!group.entries.empty()) {
      if (Writes()) {
        for (const WriteEntry& e : group.entries) {
          ledger_.Upsert({e.type, e.identifier, pid, plan.need, "planned", "", "", ctx_.run_id});
        }
      }
      pending_entries_ += group.entries.size();
      pending_.push_back(std::move(group));
    }
  }

  // Needs no longer positive for this patient. Every patient seen here was read in full (an
  // incremental pass re-reads each changed patient whole: fhir/client/rest_store.h), so a need
  // missing from `positive` is really no longer positive.
  {
    std::map<std::string, std::vector<const ServerResource*>> open_by_need;
    for (const ServerResource& sr : v.srs) {
      auto id = ParseIdentifier(sr.identifier, pid, *ctx_.catalog);
      if (id && id->kind == IdentifierKind::kServiceRequest && !positive.count(id->need) &&
          IsOpenServiceRequest(sr.status)) {
        open_by_need[id->need].push_back(&sr);
      }
    }
    std::map<std::string, std::string> retracted;  // need -> reason
    for (const auto& [need, srs] : open_by_need) {
      // Retraction: its evidence includes a screening now entered-in-error.
      bool evidence_retracted = false;
      for (const ServerResource* sr : srs) {
        for (const std::string& ref : sr->evidence) {
          // Entered in error, or deleted from the server (410 Gone; a `--full` pass is how a
          // deletion is noticed): what it alone justified is retracted.
          auto r = ctx_.client->Get(ref);
          if (r.ok() && r->body &&
              fhir::json::StrMember(*r->body, "status") == "entered-in-error") {
            evidence_retracted = true;
          } else if (!r.ok() && r.error().http_status == 410) {
            evidence_retracted = true;
          }
        }
      }
      if (evidence_retracted) {
        retracted[need] = "screening-entered-in-error";
        Retract(pid, need, v, srs, retracted[need]);
        continue;
      }
      // A withdrawn rule-set version: the current rules no longer find this need, so the
      // referrals written under the withdrawn version are what alone justified it.
      std::vector<const ServerResource*> withdrawn;
      for (const ServerResource* sr : srs) {
        if (UnderWithdrawnRuleset(*sr)) withdrawn.push_back(sr);
      }
      if (!withdrawn.empty()) {
        retracted[need] = "ruleset-withdrawn";
        Retract(pid, need, v, withdrawn, retracted[need]);
      }
    }
    for (const ServerResource& f : v.flags) {
      auto id = ParseIdentifier(f.identifier, pid, *ctx_.catalog);
      if (!id || id->kind != IdentifierKind::kFlag || positive.count(id->need)) continue;
      const std::string& need = id->need;
      if (retracted.count(need)) {
        if (f.status == "entered-in-error") continue;
        retractions_.Add({{"patient", "Patient/" + pid},
                          {"need", need},
                          {"reference", f.Reference()},
                          {"action", "entered-in-error"}});
        if (Writes()) {
          Put(f, WithStatus(f.json, "entered-in-error"),
              {"retract", "flag-entered-in-error", "Flag", f.identifier, pid, need, retracted[need],
               0, 0, "", "", ""});
        }
      } else if (f.status == "active") {
        flags_.Add({{"patient", "Patient/" + pid},
                    {"need", need},
                    {"identifier", f.identifier},
                    {"reference", f.Reference()},
                    {"action", "inactivate"}});
        if (Writes()) {
          Put(f, WithStatus(f.json, "inactive"),
              {"update", "flag-inactive", "Flag", f.identifier, pid, need, "need-not-positive", 0,
               0, "", "", ""});
        }
      }
    }
  }
  if (pending_entries_ >= static_cast<size_t>(cfg_.writeback.batch_size)) Flush(false);
}

bool ServerWriteback::UnderWithdrawnRuleset(const ServerResource& sr) const {
  if (cfg_.writeback.withdrawn_rulesets.empty()) return false;
  rapidjson::Document d;
  d.Parse(sr.json.c_str());
  if (d.HasParseError()) return false;
  auto ruleset = RulesetOf(d);
  if (!ruleset) return false;
  const std::string id_version = ruleset->first + " " + ruleset->second;
  for (const std::string& w : cfg_.writeback.withdrawn_rulesets) {
    if (w == id_version || w == ruleset->second) return true;
  }
  return false;
}

void ServerWriteback::Retract(const std::string& patient, const std::string& need, const View& v,
                              const std::vector<const ServerResource*>& srs,
                              const std::string& reason) {
  for (const ServerResource* sr : srs) {
    retractions_.Add({{"patient", "Patient/" + patient},
                      {"need", need},
                      {"reference", sr->Reference()},
                      {"action", "revoked"}});
    if (Writes()) {
      Put(*sr, WithStatus(sr->json, "revoked"),
          {"retract", "revoke", "ServiceRequest", sr->identifier, patient, need, reason, 0, 0, "",
           "", ""});
    }
    for (const ServerResource& t : v.tasks) {
      if (t.focus != sr->Reference() || !IsOpenTask(t.status)) continue;
      retractions_.Add({{"patient", "Patient/" + patient},
                        {"need", need},
                        {"reference", t.Reference()},
                        {"action", "cancelled"}});
      if (Writes()) {
        Put(t, WithStatus(t.json, "cancelled"),
            {"retract", "cancel", "Task", t.identifier, patient, need, reason, 0, 0, "", "", ""});
      }
    }
  }
}

bool ServerWriteback::Put(const ServerResource& r, const std::string& json, AuditEvent ev) {
  if (!MayWrite(r.type)) {  // the server's writeback path leaves this type out
    ++counts_["not updated (server does not allow " + r.type + ")"];
    return true;
  }
  auto res = ctx_.client->Update(r.type, r.id, json, r.version);
  ev.server_id = r.Reference();
  if (!res.ok()) {
    ev.event = "error";
    ev.http_status = res.error().http_status;
    ev.attempts = res.error().attempts;
    ev.issue_codes = IssueCodes(res.error().issues);
    audit_.Write(ev);
    Error("Patient/" + ev.patient + " need " + ev.need + ": " + ev.action + " of " + r.Reference() +
          " failed: HTTP " + std::to_string(res.error().http_status) + " " + ev.issue_codes);
    return false;
  }
  ev.http_status = res->status;
  ev.attempts = res->attempts;
  ev.version = IdVersion(res->location.empty() ? res->etag : res->location).second;
  audit_.Write(ev);
  ++counts_[ev.action];
  if (auto row = ledger_.Find(r.type, ev.identifier); row && !ctx_.dry_run) {
    if (ev.action == "revoke" || ev.action == "cancel" || ev.action == "flag-entered-in-error") {
      row->state = "revoked";
    }
    ledger_.Upsert(*row);
  }
  return true;
}

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
  ledger_.Begin();
  for (const WriteGroup* g : groups) {
    for (const WriteEntry& e : g->entries) {
      ledger_.Upsert({e.type, e.identifier, g->patient, g->need, "sent", "", "", ctx_.run_id});
    }
  }
  ledger_.Commit();
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
          ledger_.Upsert(
              {we.type, we.identifier, g->patient, g->need, "planned", "", "", ctx_.run_id});
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
  ledger_.Begin();
  for (const WriteGroup* g : groups) {
    for (const WriteEntry& e : g->entries) {
      const fhir::client::EntryResult* er = i < res->entries.size() ? &res->entries[i] : nullptr;
      ++i;
      auto [id, version] = IdVersion(er ? er->location : "");
      LedgerRow row{e.type,      e.identifier, g->patient, g->need,
                    "confirmed", id,           version,    ctx_.run_id};
      ledger_.Upsert(row);
      const bool created = er && er->status == 201;
      ++counts_[e.type + (created ? " created" : " already there")];
      audit_.Write({"write", created ? "created" : "exists", e.type, e.identifier, g->patient,
                    g->need, "", er ? er->status : 0, res->response.attempts, e.type + "/" + id,
                    version, ""});
      written.emplace_back(g, row);
    }
  }
  ledger_.Commit();
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
    Put(live[k], WithStatus(live[k].json, "entered-in-error"),
        {"duplicate", "mark-duplicate", e.type, e.identifier, g.patient, g.need,
         "duplicate-of " + live[0].Reference(), 0, 0, "", "", ""});
  }
  row->server_id = live[0].id;
  row->version = live[0].version;
  ledger_.Upsert(*row);
}

int ServerWriteback::Finish(const std::string& server_time, std::string* plan_members,
                            std::ostream& out, std::ostream& err) {
  Flush(true);
  const bool ok = errors_ == 0 && !aborted_;
  if (!ctx_.dry_run && ok && !server_time.empty()) {
    ledger_.Begin();
    for (const char* t : kSyncTypes) ledger_.SetCursor(t, server_time, ctx_.run_id);
    ledger_.Commit();
  }
  if (ctx_.dry_run) {
    *plan_members = "\"new_referrals\":" + new_referrals_.Json() +
                    ",\n\"already_open\":" + already_open_.Json() +
                    ",\n\"suppressed\":" + suppressed_.Json() +
                    ",\n\"flags_to_update\":" + flags_.Json() +
                    ",\n\"retractions\":" + retractions_.Json() + "\n";
    out << "  plan (dry run, nothing written to the server"
        << (forced_dry_run_ ? ": the server allows no referral writes, see `sdoh-bridge check`"
                            : "")
        << ")\n";
    out << "      new referrals  " << new_referrals_.size() << "\n";
    out << "      already open   " << already_open_.size() << "\n";
    out << "      suppressed     " << suppressed_.size() << "\n";
    out << "      flags          " << flags_.size() << " to create, update or inactivate\n";
    out << "      retractions    " << retractions_.size() << "\n";
    out << "  plan.json:\n{" << *plan_members << "}\n";
  } else {
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
  for (const std::string& l : error_lines_) err << "sdoh-bridge: writeback: " << l << "\n";
  if (aborted_) {
    err << "sdoh-bridge: writeback stopped after an uncertain failure; the next run reconciles\n";
  }
  return ok ? 0 : 1;
}

}  // namespace

fhir::Result<std::unique_ptr<Writeback>> MakeServerWriteback(const WritebackContext& ctx) {
  if (ctx.client == nullptr || ctx.config == nullptr) {
    return fhir::Status::InvalidArgument("writeback needs a FHIR client and a config");
  }
  return std::unique_ptr<Writeback>(new ServerWriteback(ctx));
}

}  // namespace sdoh::writeback
