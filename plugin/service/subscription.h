// `sdoh-bridge check --subscribe`: creates or renews the rest-hook Subscription that makes the
// FHIR server notify `serve` (POST /notify) when screenings change, in the R4 Subscriptions
// Backport shape (profile backport-subscription: `criteria` = the SubscriptionTopic canonical,
// `_criteria` backport-filter-criteria extensions, channel rest-hook with `payload`
// application/fhir+json and the backport-payload-content id-only | full-resource, the shared
// secret as a channel header, an optional heartbeat period, and `end` = now + lifetime).
// The Subscription is found again by its endpoint (`Subscription?url=<endpoint>`) and topic:
// found → updated with If-Match (renewed), else created. Output names ids, never the secret.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "fhir/client/fhir_client.h"
#include "fhir/datetime.h"
#include "fhir/status.h"

namespace sdoh::service {

struct SubscriptionSettings {
  std::string endpoint;  // e.g. https://sdoh.example.org/notify (required for --subscribe)
  std::string topic;     // SubscriptionTopic canonical the server offers (required)
  std::vector<std::string> filter_criteria;  // e.g. "QuestionnaireResponse?status=completed"
  std::string payload = "id-only";           // id-only | full-resource
  int heartbeat_seconds = 0;                 // 0: no heartbeat asked for
  int lifetime_days = 30;                    // Subscription.end = now + this
  // Issue 15 item 1: a SubscriptionTopic the server offers for Task changes. When set,
  // check --subscribe also creates or renews a second Subscription on it, filtered to our
  // referral Tasks (`Task?identifier=<referrals.identifier_system>|`), so a performer's accept,
  // reject or completion wakes the watch loop at once (polling still catches what is lost).
  std::string task_topic;
  std::string reason = "sdoh-bridge: screenings changed (QuestionnaireResponse, Observation)";
};

// The Task Subscription's settings: `screening` with topic = task_topic and the one filter
// on our identifier system.
SubscriptionSettings TaskSubscription(const SubscriptionSettings& screening,
                                      const std::string& identifier_system);

// Reads the `subscription:` map of `watch:`. Errors name file, line and key.
fhir::Status ParseSubscriptionSection(const std::string& file, const YAML::Node& node,
                                      SubscriptionSettings* settings);

// The Subscription JSON (with `id` and no meta when `id` is given: an update).
std::string SubscriptionJson(const SubscriptionSettings& settings, const std::string& header,
                             const std::string& secret, fhir::InstantMicros now,
                             const std::string& id);

// The screening Subscription, then (with task_topic) the Task one: 0 done; else the first
// failure's code.
int CreateOrRenewSubscriptions(fhir::client::FhirClient& client,
                               const SubscriptionSettings& settings,
                               const std::string& identifier_system, const std::string& header,
                               const std::string& secret, std::ostream& out, std::ostream& err);

// Creates or renews. 0 done; 1 the server refused or failed; 2 settings incomplete.
int CreateOrRenewSubscription(fhir::client::FhirClient& client,
                              const SubscriptionSettings& settings, const std::string& header,
                              const std::string& secret, std::ostream& out, std::ostream& err);

}  // namespace sdoh::service
