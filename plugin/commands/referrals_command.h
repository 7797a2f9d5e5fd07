// `sdoh-bridge referrals` (issue 15 item 2): the care managers' worklist, from the ledger (the
// loop rows `run` records against a FHIR server). One row per followed referral that is open
// (requested, accepted, in-progress, ...) or needs action; needing action first:
//   bounced                    rejected / failed / cancelled by someone else
//   stalled                    requested longer than referrals.accept_within_days, or accepted /
//                              in-progress without a change for referrals.complete_within_days
//   completed-awaiting-close   completed, but our ServiceRequest is not (yet) completed
// Each row: action, patient (id), need, status, performer, age in days (from authoredOn), last
// change (time and days ago), the performer's reason, the follow-up Task, the output. Ties in
// order by age (oldest first), then the Task identifier. No names unless --with-names (then
// read from the Patient resources of the config's server source; never logged).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sdoh {

struct ReferralsOptions {
  std::string config_path;
  std::string out;               // overrides the config's out (where the default ledger lives)
  std::string ledger;            // overrides writeback.ledger
  std::string format = "table";  // table | ndjson | csv
  std::string as_of;             // FHIR dateTime; default now
  bool with_names = false;
};

// 0 done; 1 the ledger cannot be read or names cannot be read; 2 usage or config error.
int ReferralsCommand(const ReferralsOptions& options, std::ostream& out, std::ostream& err);
int RunReferralsCommand(const std::vector<std::string>& args);

}  // namespace sdoh
