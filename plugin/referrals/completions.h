// Completed referrals and the chart Flag (issue 15 item 1): once the performer completes our
// referral Task, the Flag for that (patient, need) says so ("… — referral completed
// YYYY-MM-DD") and, after `flags.after_completion_days` (0: never), goes inactive with
// period.end at that day. A newer screening (after the completion) is a new episode: its Flag
// is the plain active one and it gets its own referral; a newer negative screening
// inactivates the Flag as always.
//
// The same pure edit is made by the pass (the planner, for every patient it evaluates, from
// the ledger's loop rows) and by the loop stage (plugin/writeback/server_writeback_loop.cc, for
// patients the pass did not read), so the two never disagree and a rerun changes nothing.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "fhir/datetime.h"

namespace sdoh {

// The latest completion of a referral for each (patient id, need id).
class Completions {
 public:
  void Add(const std::string& patient, const std::string& need, fhir::InstantMicros at) {
    auto [it, inserted] = by_.try_emplace({patient, need}, at);
    if (!inserted && at > it->second) it->second = at;
  }
  std::optional<fhir::InstantMicros> Find(const std::string& patient,
                                          const std::string& need) const {
    auto it = by_.find({patient, need});
    if (it == by_.end()) return std::nullopt;
    return it->second;
  }
  bool empty() const { return by_.empty(); }

 private:
  std::map<std::pair<std::string, std::string>, fhir::InstantMicros> by_;
};

// A completion at `completed` speaks for the Flag of a screening at `screened` when the
// screening is not newer than the completion (no screening time: it does).
inline bool CompletionApplies(std::optional<fhir::InstantMicros> screened,
                              fhir::InstantMicros completed) {
  return !screened || *screened <= completed;
}

// When the Flag goes inactive: completed + after_days; nullopt when after_days is 0.
std::optional<fhir::InstantMicros> CompletionFlagEnd(fhir::InstantMicros completed, int after_days);

// `flag_json` (one of our Flags, compact JSON) with the completion: code.text gets the suffix
// " — referral completed <local date>" (replacing any earlier such suffix), and when `now` is at
// or past CompletionFlagEnd, status inactive and period.end that instant. Idempotent; an
// inactive Flag (a negative rescreen) is returned unchanged; unparsable JSON unchanged.
std::string FlagWithCompletion(const std::string& flag_json, fhir::InstantMicros completed,
                               fhir::InstantMicros now, int after_days, const fhir::TimeZone& tz);

// The local civil date "YYYY-MM-DD" of an instant in `tz`.
std::string LocalDate(fhir::InstantMicros t, const fhir::TimeZone& tz);

}  // namespace sdoh
