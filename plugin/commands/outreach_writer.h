// `sdoh-bridge outreach --write` (issue 15 item 4): for each patient due for screening, one
// SDOHCC TaskForPatient on the server — code complete-questionnaire (SDC temporary codes),
// input the form's canonical (`outreach.questionnaire`) and its questionnaire-category, for and
// owner the patient, a neutral description (never the reason: an incomplete safety screen must
// not show in a Task the patient or a proxy may read) — created exactly once with a conditional
// create on its deterministic identifier (identifiers.h OutreachTaskIdentifier: one per
// episode of being due). Our open outreach Tasks whose episode is no longer due (a screening
// arrived, or the patient is inactive or deceased) are withdrawn: status cancelled, with a
// statusReason, under If-Match.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/setup/config.h"

namespace sdoh {

struct OutreachDue {
  std::string patient;        // id
  std::string last_screened;  // FHIR instant of the newest counted screening, "" never
};

// 0 done; 1 a write failed (named on `err`); 2 config error. Counts go to `err` (stdout keeps
// the list).
int WriteOutreachTasks(const Config& config, const std::vector<OutreachDue>& due,
                       fhir::InstantMicros now, std::ostream& err);

// The Task (compact JSON) for one due patient. Pure.
std::string OutreachTaskJson(const Config& config, const OutreachDue& due,
                             const std::string& identifier, fhir::InstantMicros now);

}  // namespace sdoh
