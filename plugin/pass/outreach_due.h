// Who is due for screening (issue 15 item 4), one evaluated patient at a time: shared by
// `sdoh-bridge outreach` (the list) and `report` (the backlog table). Pure.
//   never-screened-prior-positive  no counted screening, but a positive need from elsewhere
//                                  (the Patient resource: interpreter statement or language)
//   incomplete-safety              the interpersonal-safety screen is incomplete
//   overdue                        newest counted screening older than rescreen_after_days
//   declined-items                 a counted screening has a declined answer
//                                  (LA30122-8 "I choose not to answer this question"), or a
//                                  member Observation with dataAbsentReason asked-declined
//   never-screened                 no counted screening and no positive need
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/pass/evaluate_pass.h"

namespace sdoh {

struct DueReasons {
  std::vector<std::string> reasons;  // every reason that holds, in rank order
  int rank = 0;                      // of the first reason (index in OutreachReasons())
  std::optional<fhir::InstantMicros> last_screened;  // newest counted screening up to as_of
  long long days_since = -1;
  long long overdue_days = -1;
  std::string positive_needs;  // never-screened-prior-positive: the needs, comma-separated
};

// The reasons in rank order.
const std::vector<std::string>& OutreachReasons();

// Nothing when the patient is not due, or is not an active, living patient with a Patient
// resource. Screenings after `as_of` are not counted.
std::optional<DueReasons> ClassifyDue(const PatientResult& r, const PassCatalog& codes,
                                      fhir::InstantMicros as_of, int rescreen_after_days);

}  // namespace sdoh
