// `sdoh-bridge outreach` (issue 15 item 4): who is due for screening, read-only. From one pass
// over the source as of --as-of (default now), the active, living patients (a Patient resource,
// not active: false, not deceased) that are:
//   never-screened-prior-positive  no counted screening, but a positive need from elsewhere
//                                  (the Patient resource: interpreter statement or language)
//   incomplete-safety              the interpersonal-safety screen is incomplete
//   overdue                        newest counted screening older than
//                                  outreach.rescreen_after_days (default 365)
//   declined-items                 a counted screening has a declined answer
//                                  (LA30122-8 "I choose not to answer this question")
//   never-screened                 no counted screening and no positive need
// One line per patient, ranked in that order (overdue by most days overdue first), ties by
// patient id; `reasons` lists every reason that holds, `reason` the first. NDJSON or CSV.
// `--write` (a FHIR server source): one SDOHCC patient Task per due patient, exactly once, and
// our open ones no longer due withdrawn (plugin/commands/outreach_writer.h).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sdoh {

struct OutreachOptions {
  std::string config_path;
  std::string source;
  std::string as_of;              // FHIR dateTime; default now
  std::string format = "ndjson";  // ndjson | csv
  bool write = false;             // --write: patient Tasks on the server source
};

// 0 done; 1 the source cannot be read (or a --write failed); 2 usage or config error.
int OutreachCommand(const OutreachOptions& options, std::ostream& out, std::ostream& err);
int RunOutreachCommand(const std::vector<std::string>& args);

}  // namespace sdoh
