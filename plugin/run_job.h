// `sdoh-bridge run`: one pass — read screenings from the store, flag needs, plan referrals,
// write outputs and a summary.
#pragma once

#include <iosfwd>
#include <string>

namespace sdoh {

struct RunOptions {
  std::string config_path;  // empty: DefaultConfigPath()
  std::string source;       // overrides config `source`
  std::string out;          // overrides config `out`
  bool dry_run = false;
  std::string now;    // overrides the run's clock (authoredOn), ISO dateTime; for tests
  std::string since;  // server source: only resources changed since this instant
};

// Exit codes: 0 done; 1 fatal runtime error; 2 usage or config error; 3 done but some inputs
// could not be read (counted by reason in the summary).
int RunJob(const RunOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sdoh
