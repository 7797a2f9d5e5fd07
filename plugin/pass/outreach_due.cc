#include "plugin/pass/outreach_due.h"

#include <algorithm>

namespace sdoh {

namespace {

constexpr fhir::InstantMicros kDay = 86400LL * 1000000;
// Answers that say the patient declined the question (PRAPARE's answer list).
constexpr std::string_view kDeclinedAnswers[] = {"LA30122-8"};
constexpr std::string_view kIncompleteSafety = "interpersonal-safety-incomplete";

}  // namespace

const std::vector<std::string>& OutreachReasons() {
  static const std::vector<std::string> kReasons = {"never-screened-prior-positive",
                                                    "incomplete-safety", "overdue",
                                                    "declined-items", "never-screened"};
  return kReasons;
}

std::optional<DueReasons> ClassifyDue(const PatientResult& r, const PassCatalog& codes,
                                      fhir::InstantMicros as_of, int rescreen_after_days) {
  const PatientFacts& f = r.record.facts;
  if (!f.present || !f.active || f.deceased) return std::nullopt;
  DueReasons d;
  bool declined = false;
  for (const Screening& s : r.record.counted) {
    if (s.when > as_of) continue;
    if (!d.last_screened || s.when > *d.last_screened) d.last_screened = s.when;
    declined = declined || s.declined_items > 0;
    for (const Answer& a : s.answers) {
      if (a.answer == kNoCode || a.answer == kNonLoincAnswer) continue;
      std::string_view code = codes.Name(a.answer);
      for (std::string_view dcl : kDeclinedAnswers) declined = declined || code == dcl;
    }
  }
  if (!d.last_screened) {
    for (const NeedFlag& flag : r.flags) {
      d.positive_needs += (d.positive_needs.empty() ? "" : ",") + flag.need;
    }
    d.reasons.push_back(d.positive_needs.empty() ? "never-screened"
                                                 : "never-screened-prior-positive");
  } else {
    d.days_since = (as_of - *d.last_screened) / kDay;
    if (std::any_of(r.flags.begin(), r.flags.end(),
                    [](const NeedFlag& flag) { return flag.need == kIncompleteSafety; })) {
      d.reasons.push_back("incomplete-safety");
    }
    if (d.days_since > rescreen_after_days) {
      d.overdue_days = d.days_since - rescreen_after_days;
      d.reasons.push_back("overdue");
    }
    if (declined) d.reasons.push_back("declined-items");
  }
  if (d.reasons.empty()) return std::nullopt;
  const auto& ranks = OutreachReasons();
  d.rank =
      static_cast<int>(std::find(ranks.begin(), ranks.end(), d.reasons.front()) - ranks.begin());
  return d;
}

}  // namespace sdoh
