// ServerWriteback::AddPatient: per need of one patient, what to write given what the server
// holds — the referral decision (referral_policy.h), drafts waiting for consent, the Flag —
// then the needs no longer positive (server_writeback_retract.cc).
#include <set>

#include "fhir/json.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback::internal {

void ServerWriteback::AddPatient(PatientPass pass) {
  if (lookups_ == nullptr) {
    View v;
    if (TakeView(pass.patient_id, ReadView(pass.patient_id), &v)) Decide(pass, v);
    return;
  }
  std::string pid = pass.patient_id;
  ahead_.emplace_back(std::move(pass),
                      lookups_->Submit([this, pid = std::move(pid)] { return ReadView(pid); }));
  while (ahead_.size() > max_ahead_) DecideOldest();
}

void ServerWriteback::DecideOldest() {
  PatientPass pass = std::move(ahead_.front().first);
  std::future<Lookups> lookups = std::move(ahead_.front().second);
  ahead_.pop_front();
  View v;
  if (TakeView(pass.patient_id, lookups.get(), &v)) Decide(pass, v);
}

void ServerWriteback::Decide(const PatientPass& pass, const View& v) {
  const std::string& pid = pass.patient_id;
  std::set<std::string> positive;
  for (const NeedFlag& f : pass.flags) positive.insert(f.need);
  bool any_resources = false;
  for (const ReferralPlan& p : pass.plans) any_resources |= !p.resources.empty();
  if (!any_resources && v.srs.empty() && v.flags.empty()) return;
  for (size_t i = 0; i < pass.plans.size(); ++i) PlanNeed(pid, pass.plans[i], pass.flags[i], v);
  RetractNoLongerPositive(pid, positive, v);
  AfterPatient();
}

void ServerWriteback::PlanNeed(const std::string& pid, const ReferralPlan& plan,
                               const NeedFlag& flag, const View& v) {
  if (flag.stale) {
    InactivateStaleFlag(pid, flag, v);
    return;
  }
  if (plan.resources.empty()) return;
  WriteGroup group{pid, plan.need, {}, ""};
  Planned p = AllowedResources(plan);
  const Draft draft = ResolveDraft(pid, plan, v, &p);
  if (p.sr != nullptr) PlanReferral(pid, plan, flag, v, p, draft, &group);
  if (p.flag != nullptr) PlanFlag(pid, plan, *p.flag, v, &group);
  Queue(std::move(group));
}

void ServerWriteback::InactivateStaleFlag(const std::string& pid, const NeedFlag& flag,
                                          const View& v) {
  const std::string fid = FlagIdentifier(pid, flag.need);
  for (const ServerResource& f : v.flags) {
    if (f.identifier != fid || f.status != "active") continue;
    flags_.Add({{"patient", "Patient/" + pid},
                {"need", flag.need},
                {"identifier", f.identifier},
                {"reference", f.Reference()},
                {"action", "inactivate"},
                {"reason", "stale screening"}});
    if (Writes()) {
      Put(f, InactiveFlag(f.json, fhir::FormatInstantUtc(ctx_.now)),
          {"update", "flag-inactive", "Flag", f.identifier, pid, flag.need, "screening-stale", 0, 0,
           "", "", ""});
    }
  }
}

// Types the server does not let us write are left out (a Task needs its ServiceRequest).
ServerWriteback::Planned ServerWriteback::AllowedResources(const ReferralPlan& plan) {
  Planned p;
  for (const PlannedResource& r : plan.resources) {
    if (r.type == "ServiceRequest") p.sr = &r;
    if (r.type == "Task") p.task = &r;
    if (r.type == "Flag") p.flag = &r;
  }
  if (forced_dry_run_) return p;
  if (p.sr != nullptr && !MayWrite("ServiceRequest")) {
    ++counts_["not written (server does not allow ServiceRequest)"];
    p.sr = nullptr;
  }
  if (p.task != nullptr && (!MayWrite("Task") || !MayWrite("ServiceRequest"))) {
    ++counts_["not written (server does not allow Task)"];
    p.task = nullptr;
  }
  if (p.flag != nullptr && !MayWrite("Flag")) {
    ++counts_["not written (server does not allow Flag)"];
    p.flag = nullptr;
  }
  return p;
}

// Issue 14 item 2: a draft of ours activated in the EHR gets the route's Task; a draft
// waiting for consent is activated (Consent in supportingInfo) once the Consent is there.
ServerWriteback::Draft ServerWriteback::ResolveDraft(const std::string& pid,
                                                     const ReferralPlan& plan, const View& v,
                                                     Planned* p) {
  Draft d;
  d.sr_json = p->sr != nullptr ? p->sr->json : "";
  if (p->sr == nullptr || plan.draft_reason.empty()) return d;
  for (const ServerResource& s : v.srs) {
    if (s.identifier == p->sr->identifier && s.status != "entered-in-error") d.ours = &s;
  }
  const PlannedResource* held = plan.held_task.type.empty() ? nullptr : &plan.held_task;
  const bool task_ok = held != nullptr && (forced_dry_run_ || MayWrite("Task"));
  auto route = cfg_.routes.find(plan.route);
  if (d.ours != nullptr && d.ours->status == "active") {
    if (task_ok) p->task = held;
  } else if (plan.draft_reason == "consent" && route != cfg_.routes.end() &&
             (d.ours == nullptr || d.ours->status == "draft")) {
    d.consent = FindConsent(pid, route->second);
    if (!d.consent.empty()) {
      if (task_ok) p->task = held;
      if (d.ours == nullptr) d.sr_json = ActivateServiceRequest(p->sr->json, d.consent);
    }
  }
  return d;
}

void ServerWriteback::PlanReferral(const std::string& pid, const ReferralPlan& plan,
                                   const NeedFlag& flag, const View& v, const Planned& p,
                                   const Draft& draft, WriteGroup* group) {
  const PlannedResource* sr = p.sr;
  const PlannedResource* task = p.task;
  if (draft.ours != nullptr && draft.ours->status == "draft" && !draft.consent.empty()) {
    already_open_.Add({{"patient", "Patient/" + pid},
                       {"need", plan.need},
                       {"reference", draft.ours->Reference()},
                       {"note", "activated: " + draft.consent}});
    if (Writes()) {
      Put(*draft.ours, ActivateServiceRequest(draft.ours->json, draft.consent),
          {"update", "activate", "ServiceRequest", draft.ours->identifier, pid, plan.need,
           "consent " + draft.consent, 0, 0, "", "", ""});
    }
  }
  ReferralQuery q{
      sr->identifier, task ? task->identifier : "",   flag.def->domain.code, flag.screened_at,
      ctx_.now,       cfg_.writeback.suppression_days};
  std::vector<ServerResource> srs_left;
  const std::vector<ServerResource>& srs = RevokeSupersededDrafts(pid, plan, *sr, v, &srs_left);
  ReferralDecision d = DecideReferral(q, srs, v.tasks);
  AuditEvent ev{"decision",     "",  "ServiceRequest",
                sr->identifier, pid, plan.need,
                d.reason,       0,   0,
                d.existing_sr,  "",  ""};
  switch (d.action) {
    case ReferralAction::kCreate:
      ev.action = "create";
      group->entries.push_back({"ServiceRequest", sr->identifier, draft.sr_json});
      if (task != nullptr) group->entries.push_back({"Task", task->identifier, task->json});
      new_referrals_.Add({{"patient", "Patient/" + pid},
                          {"need", plan.need},
                          {"ServiceRequest", sr->identifier},
                          {"Task", task ? task->identifier : ""}});
      break;
    case ReferralAction::kCreateTask:
      ev.action = "create-task";
      group->task_focus = d.existing_sr;
      group->entries.push_back({"Task", task->identifier, task->json});
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
      suppressed_.Add({{"patient", "Patient/" + pid}, {"need", plan.need}, {"reason", d.reason}});
      break;
  }
  audit_.Write(ev);
}

// Issue 14 item 2: a need now confirmed supersedes our draft proposal for it from when it was
// only possible (its evidence, so its identifier, differs): the draft is revoked and does not
// suppress the order.
const std::vector<ServerResource>& ServerWriteback::RevokeSupersededDrafts(
    const std::string& pid, const ReferralPlan& plan, const PlannedResource& sr, const View& v,
    std::vector<ServerResource>* left) {
  if (!plan.draft_reason.empty()) return v.srs;
  for (const ServerResource& s : v.srs) {
    auto id = ParseIdentifier(s.identifier, pid, *ctx_.catalog);
    if (s.status == "draft" && s.identifier != sr.identifier && id &&
        id->kind == IdentifierKind::kServiceRequest && id->need == plan.need) {
      already_open_.Add({{"patient", "Patient/" + pid},
                         {"need", plan.need},
                         {"reference", s.Reference()},
                         {"note", "draft superseded by the confirmed need: revoked"}});
      if (Writes()) {
        Put(s, WithStatus(s.json, "revoked"),
            {"retract", "revoke", "ServiceRequest", s.identifier, pid, plan.need,
             "draft-superseded", 0, 0, "", "", ""});
      }
    } else {
      left->push_back(s);
    }
  }
  return *left;
}

namespace {

// The status of a planned resource (our own compact JSON): "active" unless it says otherwise.
std::string PlannedStatus(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  if (d.HasParseError() || !d.IsObject()) return "active";
  std::string_view s = fhir::json::StrMember(d, "status");
  return s.empty() ? "active" : std::string(s);
}

}  // namespace

void ServerWriteback::PlanFlag(const std::string& pid, const ReferralPlan& plan,
                               const PlannedResource& flag, const View& v, WriteGroup* group) {
  const ServerResource* existing = nullptr;
  for (const ServerResource& f : v.flags) {
    if (f.identifier == flag.identifier) existing = &f;
  }
  if (existing == nullptr) {  // a format-1 Flag of this need is updated to the new identifier
    for (const ServerResource& f : v.flags) {
      auto id = ParseIdentifier(f.identifier, pid, *ctx_.catalog);
      if (id && id->legacy && id->kind == IdentifierKind::kFlag && id->need == plan.need) {
        existing = &f;
      }
    }
  }
  FlagAction fa = DecideFlag(flag.json, existing);
  // A Flag the completion of its referral ended (issue 15 item 1) is not created anew.
  const std::string status = PlannedStatus(flag.json);
  if (fa == FlagAction::kCreate && status != "active") return;
  if (fa == FlagAction::kCreate) {
    group->entries.push_back({"Flag", flag.identifier, flag.json});
    flags_.Add({{"patient", "Patient/" + pid},
                {"need", plan.need},
                {"identifier", flag.identifier},
                {"action", "create"}});
  } else if (fa == FlagAction::kUpdate) {
    flags_.Add({{"patient", "Patient/" + pid},
                {"need", plan.need},
                {"identifier", flag.identifier},
                {"reference", existing->Reference()},
                {"action", "update"}});
    if (Writes()) {
      (void)Put(*existing, WithStatus(flag.json, status, existing->id),
                {"update", "flag-update", "Flag", flag.identifier, pid, plan.need, "rescreen", 0, 0,
                 "", "", ""});
    }
  }
}

// The group's creates are recorded as planned in the ledger, then wait for the next batch.
void ServerWriteback::Queue(WriteGroup group) {
  if (group.entries.empty()) return;
  if (Writes()) {
    for (const WriteEntry& e : group.entries) {
      if (!LedgerOk(ledger_.Upsert(
              {e.type, e.identifier, group.patient, group.need, "planned", "", "", ctx_.run_id}))) {
        break;
      }
    }
  }
  pending_entries_ += group.entries.size();
  pending_.push_back(std::move(group));
}

void ServerWriteback::AfterPatient() {
  if (holding_ &&
      new_referrals_.size() > static_cast<size_t>(cfg_.writeback.max_new_referrals_per_pass)) {
    valve_ = true;  // nothing of this pass will be written: stop keeping it
    pending_.clear();
    pending_entries_ = 0;
    held_puts_.clear();
  }
  if (!holding_ && pending_entries_ >= static_cast<size_t>(cfg_.writeback.batch_size)) {
    Flush(false);
  }
}

}  // namespace sdoh::writeback::internal
