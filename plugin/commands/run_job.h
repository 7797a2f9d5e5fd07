// `sdoh-bridge run`: one pass — read screenings from the store, flag needs, plan referrals,
// write outputs and a summary; with a server source, hand the plan to writeback.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "plugin/pass/pass_sink.h"
#include "plugin/referrals/directory.h"
#include "plugin/setup/config.h"

namespace sdoh {

struct RunOptions {
  std::string config_path;  // empty: DefaultConfigPath()
  std::string source;       // overrides config `source`
  std::string out;          // overrides config `out`
  bool dry_run = false;
  std::string now;    // overrides the run's clock (authoredOn), ISO dateTime; for tests
  std::string since;  // server source: only resources changed since this instant
  bool full = false;  // server source: read everything, ignoring the ledger cursor
  // Server source: write even when the pass creates more than
  // writeback.max_new_referrals_per_pass referrals (issue 14 item 1).
  bool allow_large = false;
  // Server source: rebind a ledger bound to another server (--rebind-ledger, issue 13).
  bool rebind_ledger = false;
  // Folder source: threads parsing the NDJSON (--threads); overrides config `threads` when > 0.
  size_t threads = 0;
  // Server source: read through a Bulk Data `$export` (issue 16); `bulk_group` set: Group level.
  bool bulk = false;
  std::string bulk_group;
  // Server source: where planned resources are written. Null: NDJSON outputs only.
  WritebackFactory writeback = nullptr;
};

// Exit codes: 0 done; 1 fatal runtime error; 2 usage or config error; 3 done but some inputs
// could not be read (counted by reason in the summary); 4 another run holds the ledger.
int RunJob(const RunOptions& options, std::ostream& out, std::ostream& err);

// The service directory of `config` (`*directory` null when none is configured) and, with one,
// the performers that rejected a patient's referral for a need (the ledger's loop). 0 done;
// 2 a config error; 1 the directory or the ledger cannot be read (named on `err`). Shared by
// `run` and `explain`.
int LoadDirectoryInputs(const Config& config, std::unique_ptr<Directory>* directory,
                        RejectedPerformers* rejected, std::ostream& err);

}  // namespace sdoh
