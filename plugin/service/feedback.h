// CDS Hooks feedback (CDS Hooks 2.0 "Feedback"), bounded (issue 13 #13, issue 14 item 7): a
// POST carries at most `max_outcomes` entries; each names a card uuid this service issued
// (kept in IssuedCards, a bounded most-recent store), `outcome` accepted | overridden and
// `outcomeTimestamp`; accepted needs `acceptedSuggestions`. Overrides with their reason are
// recorded in FeedbackLog (bounded, in memory, owned by the service) and, by ServiceApp, in the
// ledger file (plugin/writeback/feedback_store.h), where `run`, `watch` and later cards read
// the overrides back as declines. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fhir/status.h"

namespace sdoh::service {

// What a card was about, by its uuid: the patient, the need and the suggestion uuids.
struct IssuedCard {
  std::string patient_id;
  std::string need;
  std::vector<std::string> suggestion_uuids;
  std::string fhir_server = {};  // the call's fhirServer ("" when none)
};

// The `capacity` most recently issued cards; older ones are forgotten (their feedback is then
// refused like any unknown uuid).
class IssuedCards {
 public:
  explicit IssuedCards(size_t capacity) : capacity_(capacity > 0 ? capacity : 1) {}
  void Add(const std::string& uuid, IssuedCard card);
  std::optional<IssuedCard> Find(const std::string& uuid) const;
  size_t size() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, IssuedCard> cards_;
  std::deque<std::string> order_;  // oldest first
};

struct FeedbackEntry {
  std::string card;
  std::string outcome;  // accepted | overridden
  std::string outcome_timestamp;
  std::vector<std::string> accepted_suggestions;  // ids (accepted)
  std::string override_reason;                    // overrideReason.reason.code ("" when none given)
  std::string override_system;
};

// Parses and validates a feedback body. Errors name the entry ("feedback[3].outcomeTimestamp:
// required"); more than `max_outcomes` entries is an error before any is looked at.
fhir::Result<std::vector<FeedbackEntry>> ParseFeedback(const std::string& body,
                                                       size_t max_outcomes);

// One recorded outcome: which patient and need it was about (ids only), and why.
struct FeedbackRecord {
  std::string card;
  std::string patient_id;
  std::string need;
  std::string outcome;
  std::string reason;  // overridden: the reason code
  std::string outcome_timestamp;
  std::string fhir_server = {};  // the card's call's fhirServer
};

// The `capacity` most recent outcomes.
class FeedbackLog {
 public:
  explicit FeedbackLog(size_t capacity) : capacity_(capacity > 0 ? capacity : 1) {}
  void Record(FeedbackRecord record);
  std::vector<FeedbackRecord> Snapshot() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::deque<FeedbackRecord> records_;
};

}  // namespace sdoh::service
