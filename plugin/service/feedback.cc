#include "plugin/service/feedback.h"

#include <rapidjson/document.h>

#include "fhir/datetime.h"
#include "fhir/json.h"

namespace sdoh::service {

using fhir::json::ArrayMember;
using fhir::json::Member;
using fhir::json::StrMember;

void IssuedCards::Add(const std::string& uuid, IssuedCard card) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!cards_.emplace(uuid, std::move(card)).second) return;
  order_.push_back(uuid);
  while (order_.size() > capacity_) {
    cards_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<IssuedCard> IssuedCards::Find(const std::string& uuid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cards_.find(uuid);
  if (it == cards_.end()) return std::nullopt;
  return it->second;
}

size_t IssuedCards::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cards_.size();
}

fhir::Result<std::vector<FeedbackEntry>> ParseFeedback(const std::string& body,
                                                       size_t max_outcomes) {
  rapidjson::Document doc;
  if (fhir::json::ParseDocument(body, fhir::json::kNetworkMaxDepth, &doc) !=
          fhir::json::ParseFailure::kNone ||
      !doc.IsObject() || ArrayMember(doc, "feedback") == nullptr) {
    return fhir::Status::InvalidArgument("feedback body: expected {\"feedback\": [...]}");
  }
  const rapidjson::Value& list = *ArrayMember(doc, "feedback");
  if (list.Size() > max_outcomes) {
    return fhir::Status::InvalidArgument("feedback: " + std::to_string(list.Size()) +
                                         " outcomes in one request; at most " +
                                         std::to_string(max_outcomes));
  }
  std::vector<FeedbackEntry> out;
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    const rapidjson::Value& f = list[i];
    const std::string where = "feedback[" + std::to_string(i) + "]";
    if (!f.IsObject()) return fhir::Status::InvalidArgument(where + ": expected an object");
    FeedbackEntry e;
    e.card = std::string(StrMember(f, "card"));
    e.outcome = std::string(StrMember(f, "outcome"));
    e.outcome_timestamp = std::string(StrMember(f, "outcomeTimestamp"));
    if (e.card.empty()) {
      return fhir::Status::InvalidArgument(where + ".card: the card uuid is required");
    }
    if (e.outcome != "accepted" && e.outcome != "overridden") {
      return fhir::Status::InvalidArgument(where + ".outcome: expected accepted or overridden");
    }
    if (e.outcome_timestamp.empty()) {
      return fhir::Status::InvalidArgument(where + ".outcomeTimestamp: required");
    }
    // An instant with its offset: the override lasts writeback.declined_days from it.
    if (e.outcome_timestamp.size() < 20 ||
        !fhir::ParseFhirDateTime(e.outcome_timestamp, fhir::TimeZone::Utc())) {
      return fhir::Status::InvalidArgument(
          where + ".outcomeTimestamp: expected an instant (e.g. 2026-12-03T14:05:00Z)");
    }
    if (e.outcome == "accepted") {
      const rapidjson::Value* accepted = ArrayMember(f, "acceptedSuggestions");
      if (accepted != nullptr) {
        for (const auto& s : accepted->GetArray()) {
          std::string id(s.IsObject() ? StrMember(s, "id") : std::string_view());
          if (!id.empty()) e.accepted_suggestions.push_back(std::move(id));
        }
      }
      if (e.accepted_suggestions.empty()) {
        return fhir::Status::InvalidArgument(
            where + ".acceptedSuggestions: required for accepted (each with the suggestion id)");
      }
    } else if (const rapidjson::Value* o = Member(f, "overrideReason"); o && o->IsObject()) {
      if (const rapidjson::Value* r = Member(*o, "reason"); r && r->IsObject()) {
        e.override_reason = std::string(StrMember(*r, "code"));
        e.override_system = std::string(StrMember(*r, "system"));
      }
    }
    // The reason code is kept in the ledger and shown by explain: a code, not text.
    if (e.override_reason.size() > 64 ||
        e.override_reason.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789-._") != std::string::npos) {
      return fhir::Status::InvalidArgument(
          where + ".overrideReason.reason.code: expected a code ([A-Za-z0-9-._], at most 64)");
    }
    out.push_back(std::move(e));
  }
  return out;
}

void FeedbackLog::Record(FeedbackRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  records_.push_back(std::move(record));
  while (records_.size() > capacity_) records_.pop_front();
}

std::vector<FeedbackRecord> FeedbackLog::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {records_.begin(), records_.end()};
}

}  // namespace sdoh::service
