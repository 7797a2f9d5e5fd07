// R4 Subscriptions Backport rest-hook notifications (hl7.fhir.uv.subscriptions-backport,
// R4 profile): a `history` Bundle whose first entry is the SubscriptionStatus Parameters
// (`type` handshake | heartbeat | event-notification | query-status | query-event, and one
// `notification-event` part per event with its `focus` reference). id-only payloads list the
// focus resources as entries without `resource`; full-resource payloads carry them. Pure.
#pragma once

#include <string>
#include <vector>

#include "fhir/status.h"

namespace sdoh::service {

struct NotificationEvent {
  std::string focus;    // "QuestionnaireResponse/1", "Observation/2", "Patient/3", …
  std::string patient;  // "Patient/<id>" when the notification carried the resource, else ""
};

struct Notification {
  std::string type;          // handshake | heartbeat | event-notification | query-…
  std::string subscription;  // "Subscription/<id>" when given
  std::vector<NotificationEvent> events;
  bool IsEvent() const { return type == "event-notification"; }
};

// Errors (InvalidArgument) say which part of the Bundle was not as expected.
fhir::Result<Notification> ParseNotification(const std::string& body);

// True when `presented` equals `secret`, compared in time independent of where they differ
// (SHA-256 of both, then CRYPTO_memcmp). An empty secret never matches.
bool SecretMatches(const std::string& presented, const std::string& secret);

}  // namespace sdoh::service
