#include "plugin/writeback/referral_policy.h"

#include <algorithm>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"

namespace sdoh::writeback {

namespace {

bool In(const std::string& s, std::initializer_list<const char*> set) {
  for (const char* x : set) {
    if (s == x) return true;
  }
  return false;
}

std::string Strip(std::string_view ref) {
  // "http://x/fhir/ServiceRequest/1/_history/2" → "ServiceRequest/1"
  std::string r(ref);
  if (auto h = r.find("/_history/"); h != std::string::npos) r.resize(h);
  size_t slash = r.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    size_t prev = r.rfind('/', slash - 1);
    if (prev != std::string::npos) r = r.substr(prev + 1);
  }
  return r;
}

std::optional<fhir::InstantMicros> Instant(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return fhir::ParseFhirDateTime(s, fhir::TimeZone::Utc());
}

void Refs(const rapidjson::Value& r, const char* member, std::vector<std::string>* out) {
  if (const rapidjson::Value* a = fhir::json::ArrayMember(r, member)) {
    for (const auto& v : a->GetArray()) {
      if (v.IsObject()) {
        std::string_view ref = fhir::json::StrMember(v, "reference");
        if (!ref.empty()) out->push_back(Strip(ref));
      }
    }
  }
}

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

}  // namespace

bool IsOpenServiceRequest(const std::string& s) { return In(s, {"draft", "active", "on-hold"}); }
bool IsClosedServiceRequest(const std::string& s) { return In(s, {"completed", "revoked"}); }
bool IsOpenTask(const std::string& s) {
  return In(s, {"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"});
}
bool IsClosedTask(const std::string& s) {
  return In(s, {"completed", "rejected", "failed", "cancelled"});
}

ServerResource ParseServerResource(const rapidjson::Value& r, const std::string& system) {
  namespace json = fhir::json;
  ServerResource s;
  s.type = std::string(json::StrMember(r, "resourceType"));
  s.id = std::string(json::StrMember(r, "id"));
  s.status = std::string(json::StrMember(r, "status"));
  if (const rapidjson::Value* meta = json::Member(r, "meta")) {
    s.version = std::string(json::StrMember(*meta, "versionId"));
    s.last_updated = Instant(json::StrMember(*meta, "lastUpdated")).value_or(0);
  }
  if (const rapidjson::Value* ids = json::ArrayMember(r, "identifier")) {
    for (const auto& id : ids->GetArray()) {
      if (id.IsObject() && json::StrMember(id, "system") == system) {
        s.identifier = std::string(json::StrMember(id, "value"));
      }
    }
  }
  s.authored = Instant(json::StrMember(r, "authoredOn"));
  for (const char* member : {"category", "code"}) {
    const rapidjson::Value* v = json::Member(r, member);
    if (v == nullptr) continue;
    auto add = [&](const rapidjson::Value& cc) {
      if (const rapidjson::Value* codings = json::ArrayMember(cc, "coding")) {
        for (const auto& c : codings->GetArray()) {
          if (c.IsObject()) s.categories.emplace_back(json::StrMember(c, "code"));
        }
      }
    };
    if (v->IsArray()) {
      for (const auto& cc : v->GetArray()) {
        if (cc.IsObject()) add(cc);
      }
    } else if (v->IsObject() && std::string_view(member) == "category") {
      add(*v);
    }
  }
  if (const rapidjson::Value* focus = json::Member(r, "focus")) {
    std::string_view ref = json::StrMember(*focus, "reference");
    if (!ref.empty()) s.focus = Strip(ref);
  }
  Refs(r, "reasonReference", &s.evidence);
  Refs(r, "supportingInfo", &s.evidence);
  s.json = Serialize(r);
  return s;
}

ReferralDecision DecideReferral(const ReferralQuery& q, const std::vector<ServerResource>& srs,
                                const std::vector<ServerResource>& tasks) {
  ReferralDecision d;
  auto same_domain = [&](const ServerResource& sr) {
    return std::find(sr.categories.begin(), sr.categories.end(), q.domain_code) !=
           sr.categories.end();
  };
  // 1. Ours already there (any status but entered-in-error: a revoked one stays revoked).
  for (const ServerResource& sr : srs) {
    if (sr.identifier == q.sr_identifier && sr.status != "entered-in-error") {
      d.existing_sr = sr.Reference();
      d.action = ReferralAction::kExists;
      if (!q.task_identifier.empty()) {
        bool task_there = std::any_of(tasks.begin(), tasks.end(), [&](const ServerResource& t) {
          return t.identifier == q.task_identifier && t.status != "entered-in-error";
        });
        if (!task_there) d.action = ReferralAction::kCreateTask;
      }
      return d;
    }
  }
  auto find_sr = [&](const std::string& ref) -> const ServerResource* {
    for (const ServerResource& sr : srs) {
      if (sr.Reference() == ref) return &sr;
    }
    return nullptr;
  };
  // 2. An open ServiceRequest of the same need, whoever created it.
  for (const ServerResource& sr : srs) {
    if (IsOpenServiceRequest(sr.status) && same_domain(sr)) {
      d.action = ReferralAction::kSuppressed;
      d.reason = "open-referral " + sr.Reference() + " (" + sr.status + ")";
      return d;
    }
  }
  // 3. An open Task on a ServiceRequest of the same need.
  for (const ServerResource& t : tasks) {
    const ServerResource* sr = find_sr(t.focus);
    if (IsOpenTask(t.status) && sr != nullptr && same_domain(*sr)) {
      d.action = ReferralAction::kSuppressed;
      d.reason = "open-task " + t.Reference() + " (" + t.status + ") on " + sr->Reference();
      return d;
    }
  }
  // 4. The most recent closed one: newer screening and N days since its last status change.
  const ServerResource* last = nullptr;
  fhir::InstantMicros last_change = 0;
  fhir::InstantMicros last_authored = 0;
  auto consider = [&](const ServerResource& r, const ServerResource& sr) {
    fhir::InstantMicros authored = sr.authored.value_or(sr.last_updated);
    if (last == nullptr || r.last_updated > last_change) {
      last = &r;
      last_change = r.last_updated;
    }
    last_authored = std::max(last_authored, authored);
  };
  for (const ServerResource& sr : srs) {
    if (IsClosedServiceRequest(sr.status) && same_domain(sr)) consider(sr, sr);
  }
  for (const ServerResource& t : tasks) {
    const ServerResource* sr = find_sr(t.focus);
    if (IsClosedTask(t.status) && sr != nullptr && same_domain(*sr)) consider(t, *sr);
  }
  if (last != nullptr) {
    const fhir::InstantMicros wait =
        static_cast<fhir::InstantMicros>(q.suppression_days) * 86400LL * 1000000LL;
    if (!q.screened_at || *q.screened_at <= last_authored) {
      d.action = ReferralAction::kSuppressed;
      d.reason = "closed-referral " + last->Reference() + " (" + last->status +
                 "): no screening newer than it";
      return d;
    }
    if (q.now - last_change < wait) {
      d.action = ReferralAction::kSuppressed;
      d.reason = "closed-referral " + last->Reference() + " (" + last->status + "): less than " +
                 std::to_string(q.suppression_days) + " days since its last status change";
      return d;
    }
  }
  d.action = ReferralAction::kCreate;
  return d;
}

FlagAction DecideFlag(const std::string& planned_json, const ServerResource* existing) {
  if (existing == nullptr) return FlagAction::kCreate;
  if (existing->status == "entered-in-error") return FlagAction::kRetracted;
  rapidjson::Document a, b;
  a.Parse(planned_json.c_str());
  b.Parse(existing->json.c_str());
  if (a.HasParseError() || b.HasParseError()) return FlagAction::kUpdate;
  for (const char* m : {"identifier", "status", "category", "code", "subject", "period"}) {
    const rapidjson::Value* va = fhir::json::Member(a, m);
    const rapidjson::Value* vb = fhir::json::Member(b, m);
    if ((va == nullptr) != (vb == nullptr)) return FlagAction::kUpdate;
    if (va != nullptr && Serialize(*va) != Serialize(*vb)) return FlagAction::kUpdate;
  }
  return FlagAction::kUnchanged;
}

std::string WithStatus(const std::string& resource_json, const std::string& status,
                       const std::string& id) {
  rapidjson::Document d;
  d.Parse(resource_json.c_str());
  if (d.HasParseError() || !d.IsObject()) return resource_json;
  auto& alloc = d.GetAllocator();
  d.RemoveMember("status");
  d.AddMember("status", rapidjson::Value(status.c_str(), alloc), alloc);
  if (!id.empty()) {
    d.RemoveMember("id");
    d.AddMember("id", rapidjson::Value(id.c_str(), alloc), alloc);
  }
  return Serialize(d);
}

}  // namespace sdoh::writeback
