#include "plugin/service/subscription.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"

namespace sdoh::service {

namespace {

constexpr const char* kBackport =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";

std::string Where(const std::string& file, const YAML::Node& node, const std::string& key) {
  return file + ":" + std::to_string(node.Mark().line + 1) + ": watch.subscription." + key;
}

}  // namespace

fhir::Status ParseSubscriptionSection(const std::string& file, const YAML::Node& node,
                                      SubscriptionSettings* s) {
  if (!node.IsMap()) {
    return fhir::Status::InvalidArgument(Where(file, node, "") + ": expected a map");
  }
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    try {
      if (key == "endpoint") {
        s->endpoint = v.as<std::string>();
      } else if (key == "topic") {
        s->topic = v.as<std::string>();
      } else if (key == "task_topic") {
        s->task_topic = v.as<std::string>();
      } else if (key == "filter_criteria") {
        s->filter_criteria = v.as<std::vector<std::string>>();
      } else if (key == "payload") {
        s->payload = v.as<std::string>();
        if (s->payload != "id-only" && s->payload != "full-resource") {
          return fhir::Status::InvalidArgument(Where(file, v, key) +
                                               ": expected id-only or full-resource");
        }
      } else if (key == "heartbeat_seconds") {
        s->heartbeat_seconds = v.as<int>();
      } else if (key == "lifetime_days") {
        s->lifetime_days = v.as<int>();
        if (s->lifetime_days < 1) {
          return fhir::Status::InvalidArgument(Where(file, v, key) + ": must be positive");
        }
      } else {
        return fhir::Status::InvalidArgument(Where(file, kv.first, key) + ": unknown key");
      }
    } catch (const YAML::Exception&) {
      return fhir::Status::InvalidArgument(Where(file, v, key) + ": wrong type");
    }
  }
  return fhir::Status::Ok();
}

std::string SubscriptionJson(const SubscriptionSettings& s, const std::string& header,
                             const std::string& secret, fhir::InstantMicros now,
                             const std::string& id) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
  };
  auto ext = [&](const std::string& name, const char* value_key, const std::string& value) {
    w.StartObject();
    str("url", kBackport + name);
    str(value_key, value);
    w.EndObject();
  };
  w.StartObject();
  str("resourceType", "Subscription");
  if (!id.empty()) str("id", id);
  w.Key("meta");
  w.StartObject();
  w.Key("profile");
  w.StartArray();
  w.String((std::string(kBackport) + "backport-subscription").c_str());
  w.EndArray();
  w.EndObject();
  str("status", "requested");
  constexpr fhir::InstantMicros kDay = 86400LL * 1000000LL;
  str("end", fhir::FormatInstantUtc(now + s.lifetime_days * kDay));
  str("reason", s.reason);
  str("criteria", s.topic);
  if (!s.filter_criteria.empty()) {
    w.Key("_criteria");
    w.StartObject();
    w.Key("extension");
    w.StartArray();
    for (const auto& f : s.filter_criteria) ext("backport-filter-criteria", "valueString", f);
    w.EndArray();
    w.EndObject();
  }
  w.Key("channel");
  w.StartObject();
  if (s.heartbeat_seconds > 0) {
    w.Key("extension");
    w.StartArray();
    w.StartObject();
    str("url", std::string(kBackport) + "backport-heartbeat-period");
    w.Key("valueUnsignedInt");
    w.Int(s.heartbeat_seconds);
    w.EndObject();
    w.EndArray();
  }
  str("type", "rest-hook");
  str("endpoint", s.endpoint);
  str("payload", "application/fhir+json");
  w.Key("_payload");
  w.StartObject();
  w.Key("extension");
  w.StartArray();
  ext("backport-payload-content", "valueCode", s.payload);
  w.EndArray();
  w.EndObject();
  if (!secret.empty()) {
    w.Key("header");
    w.StartArray();
    std::string h = header + ": " + secret;
    w.String(h.c_str(), static_cast<rapidjson::SizeType>(h.size()));
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return sb.GetString();
}

SubscriptionSettings TaskSubscription(const SubscriptionSettings& screening,
                                      const std::string& identifier_system) {
  SubscriptionSettings t = screening;
  t.topic = screening.task_topic;
  t.task_topic.clear();
  t.filter_criteria = {"Task?identifier=" + identifier_system + "|"};
  t.reason = "sdoh-bridge: referral Tasks changed (accepted, rejected, completed)";
  return t;
}

int CreateOrRenewSubscription(fhir::client::FhirClient& client, const SubscriptionSettings& s,
                              const std::string& header, const std::string& secret,
                              std::ostream& out, std::ostream& err) {
  if (s.endpoint.empty() || s.topic.empty()) {
    err << "check --subscribe: watch.subscription.endpoint and watch.subscription.topic are "
           "required\n";
    return 2;
  }
  if (secret.empty()) {
    err << "check --subscribe: the notify secret is not set (watch.notify_secret_env); /notify "
           "would refuse every notification\n";
    return 2;
  }
  auto found = client.Search("Subscription", {{"url", s.endpoint}});
  if (!found.ok()) {
    err << "check --subscribe: cannot search Subscriptions: " << found.error().ToString() << "\n";
    return 1;
  }
  std::string id, version;
  int matches = 0;
  if (const rapidjson::Value* entries = fhir::json::ArrayMember(*found->body, "entry")) {
    for (const auto& e : entries->GetArray()) {
      const rapidjson::Value* r = e.IsObject() ? fhir::json::Member(e, "resource") : nullptr;
      if (r == nullptr || fhir::json::StrMember(*r, "criteria") != s.topic) continue;
      ++matches;
      if (!id.empty()) continue;
      id = std::string(fhir::json::StrMember(*r, "id"));
      if (const rapidjson::Value* meta = fhir::json::Member(*r, "meta")) {
        version = std::string(fhir::json::StrMember(*meta, "versionId"));
      }
    }
  }
  const fhir::InstantMicros now = fhir::NowMicros();
  if (id.empty()) {
    auto created = client.Create("Subscription", SubscriptionJson(s, header, secret, now, ""));
    if (!created.ok()) {
      err << "check --subscribe: creating the Subscription failed: " << created.error().ToString()
          << "\n";
      return 1;
    }
    out << "Subscription: created " << created->location << " (topic " << s.topic << ", endpoint "
        << s.endpoint << ", payload " << s.payload << ")\n";
    return 0;
  }
  auto updated =
      client.Update("Subscription", id, SubscriptionJson(s, header, secret, now, id), version);
  if (!updated.ok()) {
    err << "check --subscribe: renewing Subscription/" << id
        << " failed: " << updated.error().ToString() << "\n";
    return 1;
  }
  out << "Subscription: renewed Subscription/" << id << " (topic " << s.topic << ", endpoint "
      << s.endpoint << ", until +" << s.lifetime_days << " days)\n";
  if (matches > 1) {
    out << "  note: " << matches - 1 << " more Subscription(s) with this endpoint and topic\n";
  }
  return 0;
}

int CreateOrRenewSubscriptions(fhir::client::FhirClient& client,
                               const SubscriptionSettings& settings,
                               const std::string& identifier_system, const std::string& header,
                               const std::string& secret, std::ostream& out, std::ostream& err) {
  int code = CreateOrRenewSubscription(client, settings, header, secret, out, err);
  if (code != 0 || settings.task_topic.empty()) return code;
  return CreateOrRenewSubscription(client, TaskSubscription(settings, identifier_system), header,
                                   secret, out, err);
}

}  // namespace sdoh::service
