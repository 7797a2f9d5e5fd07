// Referrals a clinician declined through CDS Hooks feedback (issue 14 item 7): a card
// `overridden` with a reason (patient-declined, already-addressed, ...) suppresses a new
// referral for that (patient, need) until `until` — writeback.declined_days after the
// override. The chart Flag stays (the need is still there); no ServiceRequest or Task is
// planned. Loaded per pass from the ledger (plugin/writeback/feedback_store.h); pure data here.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "fhir/datetime.h"

namespace sdoh {

struct Decline {
  std::string reason;               // the override reason code
  fhir::InstantMicros decided = 0;  // the feedback's outcomeTimestamp
  fhir::InstantMicros until = 0;    // decided + writeback.declined_days
};

// The declines in force for one pass (or one CDS call), by (patient id, need id). When a
// (patient, need) was declined more than once, the one that lasts longest is kept.
class Declines {
 public:
  void Add(const std::string& patient, const std::string& need, Decline d) {
    auto [it, inserted] = by_.try_emplace({patient, need}, d);
    if (!inserted && d.until > it->second.until) it->second = std::move(d);
  }
  // The decline of (patient, need) still in force at `now` (now < until), or nullptr.
  const Decline* Find(const std::string& patient, const std::string& need,
                      fhir::InstantMicros now) const {
    auto it = by_.find({patient, need});
    if (it == by_.end() || now >= it->second.until) return nullptr;
    return &it->second;
  }
  size_t size() const { return by_.size(); }
  bool empty() const { return by_.empty(); }

 private:
  std::map<std::pair<std::string, std::string>, Decline> by_;
};

}  // namespace sdoh
