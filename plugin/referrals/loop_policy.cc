#include "plugin/referrals/loop_policy.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"

namespace sdoh {

namespace {

using fhir::json::ArrayMember;
using fhir::json::Member;
using fhir::json::StrMember;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr fhir::InstantMicros kDay = 86400LL * 1000000;

std::string RefOf(const rapidjson::Value& obj, const char* member) {
  const rapidjson::Value* v = Member(obj, member);
  return v == nullptr ? std::string() : std::string(StrMember(*v, "reference"));
}

// statusReason.text, else its first coding's display, else its code.
std::string ConceptText(const rapidjson::Value* cc) {
  if (cc == nullptr || !cc->IsObject()) return "";
  if (auto text = StrMember(*cc, "text"); !text.empty()) return std::string(text);
  if (const rapidjson::Value* codings = ArrayMember(*cc, "coding")) {
    for (const auto& c : codings->GetArray()) {
      if (auto d = StrMember(c, "display"); !d.empty()) return std::string(d);
      if (auto code = StrMember(c, "code"); !code.empty()) return std::string(code);
    }
  }
  return "";
}

// One Task.output value: a reference, or system|code of a CodeableConcept, or its text.
std::string OutputValue(const rapidjson::Value& output) {
  if (const rapidjson::Value* ref = Member(output, "valueReference")) {
    return std::string(StrMember(*ref, "reference"));
  }
  if (const rapidjson::Value* cc = Member(output, "valueCodeableConcept")) {
    if (const rapidjson::Value* codings = ArrayMember(*cc, "coding")) {
      for (const auto& c : codings->GetArray()) {
        return std::string(StrMember(c, "system")) + "|" + std::string(StrMember(c, "code"));
      }
    }
    return std::string(StrMember(*cc, "text"));
  }
  if (auto s = StrMember(output, "valueString"); !s.empty()) return std::string(s);
  return "";
}

void Str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void Ref(Writer& w, const char* key, const std::string& reference) {
  w.Key(key);
  w.StartObject();
  w.Key("reference");
  Str(w, reference);
  w.EndObject();
}

std::string Description(const LoopTask& task, const std::string& kind) {
  const std::string performer = task.owner.empty() ? "the performer" : task.owner;
  const std::string reason = task.status_reason.empty() ? "no reason given" : task.status_reason;
  if (kind == "rejected") {
    return "Referral declined by " + performer + ": " + reason +
           " — choose another service or contact the patient";
  }
  if (kind == "failed" || kind == "cancelled") {
    return "Referral " + kind + " by " + performer + ": " + reason +
           " — choose another service or contact the patient";
  }
  if (kind == "stalled-requested") {
    return "Referral not accepted by " + performer +
           " in time — contact the service or choose another one";
  }
  return "Referral " + kind.substr(kind.find('-') + 1) + " at " + performer +
         " without progress — contact the service or the patient";
}

}  // namespace

bool IsBounced(const std::string& s) {
  return s == "rejected" || s == "failed" || s == "cancelled";
}

bool AwaitsAcceptance(const std::string& s) {
  return s == "requested" || s == "received" || s == "ready" || s == "draft";
}

std::string StatusReasonOf(const rapidjson::Value& task) {
  return ConceptText(Member(task, "statusReason"));
}

LoopTask ReadLoopTask(const std::string& task_json, const std::string& identifier_system) {
  LoopTask t;
  rapidjson::Document d;
  d.Parse(task_json.c_str(), task_json.size());
  if (d.HasParseError() || !d.IsObject()) return t;
  t.id = std::string(StrMember(d, "id"));
  t.status = std::string(StrMember(d, "status"));
  if (const rapidjson::Value* meta = Member(d, "meta")) {
    t.version = std::string(StrMember(*meta, "versionId"));
    t.last_updated = std::string(StrMember(*meta, "lastUpdated"));
  }
  if (const rapidjson::Value* ids = ArrayMember(d, "identifier")) {
    for (const auto& id : ids->GetArray()) {
      if (StrMember(id, "system") == identifier_system) {
        t.identifier = std::string(StrMember(id, "value"));
      }
    }
  }
  t.status_reason = StatusReasonOf(d);
  t.owner = RefOf(d, "owner");
  t.focus = RefOf(d, "focus");
  std::string subject = RefOf(d, "for");
  t.patient = subject.substr(subject.rfind('/') + 1);
  t.authored = std::string(StrMember(d, "authoredOn"));
  if (const rapidjson::Value* outputs = ArrayMember(d, "output")) {
    for (const auto& o : outputs->GetArray()) {
      std::string v = OutputValue(o);
      if (!v.empty()) t.output += (t.output.empty() ? "" : ",") + v;
    }
  }
  return t;
}

LoopDecision DecideLoop(const LoopTask& task, fhir::InstantMicros status_since, bool referral_open,
                        const std::string& service_request_status, fhir::InstantMicros now,
                        const LoopConfig& config) {
  LoopDecision d;
  if (task.status == "completed") {
    d.complete_service_request =
        service_request_status == "active" || service_request_status == "on-hold";
    return d;
  }
  if (!referral_open) return d;
  if (IsBounced(task.status)) {
    d.follow_up_kind = task.status;
    return d;
  }
  if (AwaitsAcceptance(task.status)) {
    auto authored = fhir::ParseFhirDateTime(task.authored, fhir::TimeZone::Utc());
    const fhir::InstantMicros since = authored ? *authored : status_since;
    if (now - since > config.accept_within_days * kDay) d.follow_up_kind = "stalled-requested";
    return d;
  }
  if (task.status == "accepted" || task.status == "in-progress" || task.status == "on-hold") {
    if (now - status_since > config.complete_within_days * kDay) {
      d.follow_up_kind = "stalled-" + task.status;
    }
  }
  return d;
}

std::string BuildFollowUpTask(const LoopTask& task, const std::string& kind,
                              const std::string& follow_up_identifier, const RouteConfig& route,
                              const std::string& identifier_system, fhir::InstantMicros now) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Task");
  w.Key("identifier");
  w.StartArray();
  w.StartObject();
  w.Key("system");
  Str(w, identifier_system);
  w.Key("value");
  Str(w, follow_up_identifier);
  w.EndObject();
  w.EndArray();
  w.Key("status");
  w.String("requested");
  w.Key("intent");
  w.String("order");
  w.Key("priority");
  w.String(IsBounced(kind) ? "urgent" : "routine");
  w.Key("code");
  w.StartObject();
  w.Key("text");
  w.String("Referral follow-up");
  w.EndObject();
  w.Key("description");
  Str(w, Description(task, kind));
  Ref(w, "focus", "Task/" + task.id);
  Ref(w, "for", "Patient/" + task.patient);
  w.Key("authoredOn");
  Str(w, fhir::FormatInstantUtc(now));
  if (!route.requester.empty()) Ref(w, "requester", route.requester);
  const std::string& owner = route.care_manager.empty() ? route.requester : route.care_manager;
  if (!owner.empty()) Ref(w, "owner", owner);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace sdoh
