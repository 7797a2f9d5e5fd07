#include "plugin/report/referral_status.h"

#include <algorithm>

#include "fhir/json.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/referrals/loop_policy.h"

namespace sdoh::report {

namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000;

// The value of the first identifier under `system`, or "".
std::string_view IdentifierValue(const rapidjson::Value& resource, std::string_view system) {
  const rapidjson::Value* ids = fhir::json::ArrayMember(resource, "identifier");
  if (ids == nullptr) return {};
  for (const auto& id : ids->GetArray()) {
    if (id.IsObject() && fhir::json::StrMember(id, "system") == system) {
      return fhir::json::StrMember(id, "value");
    }
  }
  return {};
}

std::string PatientOf(const rapidjson::Value& resource, const char* member) {
  const rapidjson::Value* ref = fhir::json::Member(resource, member);
  if (ref == nullptr || !ref->IsObject()) return {};
  return std::string(fhir::json::ReferenceId(fhir::json::StrMember(*ref, "reference"), "Patient"));
}

std::optional<fhir::InstantMicros> When(std::string_view text, const fhir::TimeZone& tz) {
  if (text.empty()) return std::nullopt;
  return fhir::ParseFhirDateTime(text, tz);
}

bool Closed(ReferralStatus s) {
  return s == ReferralStatus::kCompleted || s == ReferralStatus::kRejected ||
         s == ReferralStatus::kCancelled;
}

}  // namespace

std::optional<ReferralStatus> StatusOfTask(std::string_view s) {
  if (s == "draft" || s == "requested" || s == "received" || s == "ready" || s == "on-hold") {
    return ReferralStatus::kOpen;
  }
  if (s == "accepted" || s == "in-progress") return ReferralStatus::kAccepted;
  if (s == "completed") return ReferralStatus::kCompleted;
  if (s == "rejected") return ReferralStatus::kRejected;
  if (s == "cancelled" || s == "failed") return ReferralStatus::kCancelled;
  return std::nullopt;
}

std::optional<ReferralStatus> StatusOfServiceRequest(std::string_view s) {
  if (s == "draft" || s == "active" || s == "on-hold") return ReferralStatus::kOpen;
  if (s == "completed") return ReferralStatus::kCompleted;
  if (s == "revoked") return ReferralStatus::kCancelled;
  return std::nullopt;
}

void ReferralReader::OnResource(std::string_view, const rapidjson::Value& resource,
                                const fhir::SourceLocation&) {
  if (!resource.IsObject()) return;
  const std::string_view type = fhir::json::StrMember(resource, "resourceType");
  const bool task = type == "Task";
  if (!task && type != "ServiceRequest") return;
  const std::string patient = PatientOf(resource, task ? "for" : "subject");
  auto id = ParseIdentifier(IdentifierValue(resource, system_), patient, *catalog_);
  if (!id || id->kind != (task ? IdentifierKind::kTask : IdentifierKind::kServiceRequest)) {
    return;  // not one of ours
  }
  Resource r;
  r.identifier = IdentifierValue(resource, system_);
  r.status = std::string(fhir::json::StrMember(resource, "status"));
  if (task) r.status_reason = StatusReasonOf(resource);
  if (r.status == "entered-in-error") return;  // a duplicate or a retraction: not a referral
  r.patient = patient;
  r.need = id->need;
  r.authored = When(fhir::json::StrMember(resource, "authoredOn"), tz_);
  if (task) r.changed = When(fhir::json::StrMember(resource, "lastModified"), tz_);
  if (!r.changed) {
    if (const rapidjson::Value* meta = fhir::json::Member(resource, "meta");
        meta != nullptr && meta->IsObject()) {
      r.changed = When(fhir::json::StrMember(*meta, "lastUpdated"), tz_);
    }
  }
  // Writeback keeps one live resource per identifier; should a server hold two, the first read
  // counts, so each referral is counted once.
  (task ? tasks_ : requests_).try_emplace(std::move(id->service_request), std::move(r));
}

std::map<std::string, std::vector<ReferralRow>> ReferralReader::ByPatient(
    fhir::InstantMicros start, fhir::InstantMicros end, fhir::InstantMicros as_of,
    const FunnelInputs& funnel) const {
  std::map<std::string, std::vector<ReferralRow>> out;
  for (const auto& [value, sr] : requests_) {
    if (sr.patient.empty() || !sr.authored || *sr.authored < start || *sr.authored >= end) continue;
    const Resource* source = &sr;
    std::optional<ReferralStatus> status;
    if (auto t = tasks_.find(value); t != tasks_.end()) {
      status = StatusOfTask(t->second.status);
      if (status) source = &t->second;
    }
    if (!status) status = StatusOfServiceRequest(sr.status);
    if (!status) continue;
    ReferralRow row;
    row.need = sr.need;
    row.status = *status;
    fhir::InstantMicros until = as_of;
    // A referral closed after `as_of` was still open then.
    if (Closed(*status) && source->changed) until = std::min(*source->changed, as_of);
    const fhir::InstantMicros opened = source->authored ? *source->authored : *sr.authored;
    row.days_open = until > opened ? (until - opened) / kMicrosPerDay : 0;
    SetLoopFields(sr, source == &sr ? nullptr : source, as_of, funnel, &row);
    out[sr.patient].push_back(std::move(row));
  }
  return out;
}

void ReferralReader::SetLoopFields(const Resource& sr, const Resource* task,
                                   fhir::InstantMicros as_of, const FunnelInputs& funnel,
                                   ReferralRow* row) const {
  const fhir::InstantMicros authored = *sr.authored;
  auto days = [&](fhir::InstantMicros t) -> int64_t {
    return t > authored ? (t - authored) / kMicrosPerDay : 0;
  };
  auto earliest = [](std::optional<fhir::InstantMicros> a, std::optional<fhir::InstantMicros> b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(a, b);
  };
  if (task == nullptr) {  // no live Task (the interpreter route): the ServiceRequest says it all
    if (sr.status == "completed") {
      row->reached_accepted = true;
      if (sr.changed) row->days_to_acceptance = row->days_to_completion = days(*sr.changed);
    }
    return;
  }
  const TaskHistory* recorded = nullptr;
  if (funnel.history != nullptr) {
    if (auto it = funnel.history->find(task->identifier); it != funnel.history->end()) {
      recorded = &it->second;
    }
  }
  const std::string& st = task->status;
  const bool accepted_now = st == "accepted" || st == "in-progress" || st == "completed";
  std::optional<fhir::InstantMicros> accepted_at = recorded ? recorded->accepted : std::nullopt;
  if (accepted_now) accepted_at = earliest(accepted_at, task->changed);
  row->reached_accepted = accepted_now || (recorded && recorded->accepted);
  if (row->reached_accepted && accepted_at) row->days_to_acceptance = days(*accepted_at);
  if (st == "completed") {
    auto completed_at = earliest(recorded ? recorded->completed : std::nullopt, task->changed);
    if (completed_at) row->days_to_completion = days(*completed_at);
  }
  const bool sr_open = sr.status == "active" || sr.status == "on-hold" || sr.status == "draft";
  if (IsBounced(st) && sr_open) {
    row->bounced = true;
    row->bounce_status = st;
    row->bounce_reason = task->status_reason;
  }
  LoopTask t;
  t.status = st;
  t.authored = fhir::FormatInstantUtc(task->authored ? *task->authored : authored);
  const LoopDecision d =
      DecideLoop(t, task->changed.value_or(as_of), sr_open, "", as_of, funnel.loop);
  row->stalled = d.follow_up_kind.rfind("stalled-", 0) == 0;
}

std::set<std::string> ReferralReader::WithInterpreterReferral() const {
  std::set<std::string> out;
  for (const auto& [value, sr] : requests_) {
    const NeedDef* def = catalog_->FindNeed(sr.need);
    if (sr.patient.empty() || def == nullptr || !def->language) continue;
    if (sr.status == "revoked") continue;
    if (StatusOfServiceRequest(sr.status)) out.insert(sr.patient);
  }
  return out;
}

}  // namespace sdoh::report
