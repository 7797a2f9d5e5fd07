// The sdoh-bridge command line. Exceptions (programming errors) are caught here and reported
// as fatal (exit 1); expected failures travel as Status values and become exit codes.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "plugin/commands/check_command.h"
#include "plugin/commands/explain_command.h"
#include "plugin/commands/fhirpath_command.h"
#include "plugin/commands/forms_command.h"
#include "plugin/commands/outreach_command.h"
#include "plugin/commands/referrals_command.h"
#include "plugin/commands/run_job.h"
#include "plugin/commands/test_rules_command.h"
#include "plugin/report/report_command.h"
#include "plugin/service/serve_command.h"
#include "plugin/setup/config.h"
#include "plugin/setup/fhir_section.h"

#include "plugin/writeback/revoke_command.h"
#include "plugin/writeback/server_writeback.h"

namespace {

constexpr const char* kUsage = R"(sdoh-bridge — turns social-needs screenings into referrals

Usage: sdoh-bridge <command> [options]

Commands:
  run          read screenings, flag needs, plan referrals, write out/ (default command)
  explain      show why a patient was or was not flagged
  test-rules   run rule fixtures (input resources + expected flags)
  check        check the FHIR server: metadata, token, scopes, writeback path
  serve        HTTP service: CDS Hooks patient-view cards, notifications, health, metrics
               (with watch.interval also the watch loop)
  watch        periodic passes with writeback (the watch loop of serve, no HTTP)
  report       equity report: screening, positivity and referral by stratum (HTML, JSON, CSV)
  revoke       undo what one run wrote to the FHIR server (from the ledger)
  referrals    care managers' worklist: our referrals, bounced and stalled first (ledger)
  outreach     who is due for screening: never screened, overdue, incomplete
  fhirpath     evaluate a FHIRPath expression against a resource
  forms        list the forms in the source: mapped, inferred or unmapped; draft mappings
  version      print the version

Run 'sdoh-bridge <command> --help' for a command's options.
Exit codes: 0 done; 1 fatal error; 2 usage or config error; 3 done, some inputs unreadable
or some responses of an unmapped form dropped.
)";

constexpr const char* kRunUsage =
    R"(Usage: sdoh-bridge run [--config FILE] [--source DIR|URL] [--out DIR] [--dry-run]

Reads Patient, Questionnaire, QuestionnaireResponse and Observation resources from the source,
applies the screening rules and writes to the out folder:
  flags.ndjson                          one line per (patient, need) with evidence and rules
  ServiceRequest.ndjson Task.ndjson Flag.ndjson   the referral resources it would post
  summary.json                          counts: read, counted, ignored, skipped, flags, planned
With --dry-run only flags.ndjson, plan.json and summary.json are written.
With a FHIR server as the source the referrals are written back to it, exactly once: transaction
Bundles of conditional creates, a SQLite ledger (out/ledger.sqlite), suppression policy, Flag
updates, retractions, an audit log (out/audit.jsonl); --dry-run reads and decides, writes nothing
to the server and puts new referrals, already open, suppressed, flag changes and retractions in
plan.json. The next pass reads only what changed since the last successful one (cursor in the
ledger) unless --full or --since.

Options:
  --config FILE   config file (default: config/sdoh-bridge.yaml)
  --source DIR    NDJSON folder (<Type>.ndjson files); overrides the config's source
  --out DIR       output folder; overrides the config's out
  --dry-run       evaluate and plan, write nothing but the plan
  --now DATETIME  the run's clock for authoredOn (default: now)
  --threads N     threads parsing an NDJSON folder, 1 to 256 (default: config threads, else the
                  cores the process may use); the outputs are the same for every N
  --since INSTANT server source: only resources changed since this instant
  --full          server source: read everything, ignoring the ledger's cursor
  --allow-large   server source: write even when the pass creates more referrals than
                  writeback.max_new_referrals_per_pass (default 500); without it such a pass
                  writes nothing and exits 1
  --rebind-ledger server source: the ledger is bound to the server it was first used with
                  (base URL and identifier system); rebind it to this one instead of refusing
  --bulk          server source: read through a Bulk Data $export (system level) instead of
                  paged searches; incremental passes use _since and then read each changed
                  patient in full; an interrupted export is resumed (spool in out/.bulk-spool)
  --group ID      with --bulk: a Group-level export of Group/ID
Exit codes: 0 done; 1 fatal error, a failed write, the large-pass valve, or the ledger cannot
be written; 2 usage or config error, or the ledger is bound to another server; 3 done, some
inputs unreadable or responses of an unmapped form dropped (see the warning and summary.json
unmapped_forms); 4 another run holds the ledger, or serve/watch owns it (nothing done).
)";

constexpr const char* kRevokeUsage =
    R"(Usage: sdoh-bridge revoke --run RUN_ID [--config FILE] [--source URL] [--out DIR]

Undoes everything the run RUN_ID wrote to the FHIR server, as recorded in the ledger: its
ServiceRequests become revoked, its Tasks cancelled (with a statusReason), its Flags
entered-in-error (PUT with If-Match). Each is read first and left as is, reported as skipped,
when it is not what the ledger recorded (identifier under our system, subject) or is already
final (a ServiceRequest completed, revoked or entered-in-error; a Task completed, cancelled,
failed, rejected or entered-in-error). Every change and skip goes to the audit log.
Exit codes: 0 done; 1 a write failed, the ledger cannot be written or the run is unknown;
2 config error, or the ledger is bound to another server; 4 ledger busy.
)";

constexpr const char* kCheckUsage =
    R"(Usage: sdoh-bridge check [--config FILE] [--source URL] [--subscribe]

Validates the config, fetches the server's CapabilityStatement and SMART configuration, obtains
a token when auth is configured, and prints the scopes granted, what the server supports for
each resource type sdoh-bridge reads and writes, and which writeback path that allows
(ServiceRequest + Task + Flag, a subset, or none: dry run).
--subscribe then creates or renews the rest-hook Subscription (R4 Subscriptions Backport) that
notifies `serve` at watch.subscription.endpoint (found again by endpoint and topic).
Exit codes: 0 reachable; 1 server unreachable or no token (or the Subscription was refused);
2 config error.
)";

constexpr const char* kExplainUsage =
    R"(Usage: sdoh-bridge explain --patient ID [--patient ID ...] [--config FILE] [--source DIR]

Prints, for each patient: every counted, superseded and ignored screening with the reason,
every rule with its outcome and evidence, and the resulting flags. Ids and codes only.
)";

constexpr const char* kTestRulesUsage =
    R"(Usage: sdoh-bridge test-rules [--config FILE] FIXTURE.yaml...

Runs rule fixtures through the same screening and rule stages as 'run' and reports PASS/FAIL
per case, then 'N passed, N failed'. Exit 0 when all pass, 1 when any fails, 2 on a broken file.
Fixture format: see README ("Rule fixtures") and tests/rule-fixtures/.
)";

bool IsHelp(const std::string& a) { return a == "--help" || a == "-h"; }

// Reads "--flag VALUE" or "--flag=VALUE"; advances i. Returns false when the value is missing.
bool TakeValue(const std::vector<std::string>& args, size_t& i, const std::string& flag,
               std::string* value) {
  const std::string& a = args[i];
  if (a == flag) {
    if (i + 1 >= args.size()) return false;
    *value = args[++i];
    return true;
  }
  if (a.rfind(flag + "=", 0) == 0) {
    *value = a.substr(flag.size() + 1);
    return true;
  }
  return false;
}

int Usage(const std::string& msg, const char* usage) {
  std::cerr << "sdoh-bridge: " << msg << "\n\n" << usage;
  return 2;
}

// A thread count: 1 to sdoh::kMaxThreads.
bool ParseThreads(const std::string& text, size_t* threads) {
  if (text.empty() || text.size() > 3 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const int n = std::stoi(text);
  if (n < 1 || static_cast<size_t>(n) > sdoh::kMaxThreads) return false;
  *threads = static_cast<size_t>(n);
  return true;
}

int Run(const std::vector<std::string>& args) {
  sdoh::RunOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (IsHelp(a)) {
      std::cout << kRunUsage;
      return 0;
    }
    if (a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "--full") {
      o.full = true;
    } else if (a == "--allow-large") {
      o.allow_large = true;
    } else if (a == "--rebind-ledger") {
      o.rebind_ledger = true;
    } else if (a == "--bulk") {
      o.bulk = true;
    } else if (a.rfind("--group", 0) == 0) {
      if (!TakeValue(args, i, "--group", &o.bulk_group))
        return Usage("--group needs a Group id", kRunUsage);
      o.bulk = true;
    } else if (a.rfind("--config", 0) == 0) {
      if (!TakeValue(args, i, "--config", &o.config_path))
        return Usage("--config needs a file", kRunUsage);
    } else if (a.rfind("--source", 0) == 0) {
      if (!TakeValue(args, i, "--source", &o.source))
        return Usage("--source needs a value", kRunUsage);
    } else if (a.rfind("--out", 0) == 0) {
      if (!TakeValue(args, i, "--out", &o.out)) return Usage("--out needs a folder", kRunUsage);
    } else if (a.rfind("--now", 0) == 0) {
      if (!TakeValue(args, i, "--now", &o.now)) return Usage("--now needs a dateTime", kRunUsage);
    } else if (a.rfind("--since", 0) == 0) {
      if (!TakeValue(args, i, "--since", &o.since))
        return Usage("--since needs an instant", kRunUsage);
    } else if (a.rfind("--threads", 0) == 0) {
      std::string n;
      if (!TakeValue(args, i, "--threads", &n) || !ParseThreads(n, &o.threads))
        return Usage("--threads needs a number from 1 to " + std::to_string(sdoh::kMaxThreads),
                     kRunUsage);
    } else {
      return Usage("unknown option '" + a + "'", kRunUsage);
    }
  }
  if (o.full && !o.since.empty()) return Usage("--full and --since exclude each other", kRunUsage);
  o.writeback = &sdoh::writeback::MakeServerWriteback;
  return sdoh::RunJob(o, std::cout, std::cerr);
}

int Revoke(const std::vector<std::string>& args) {
  sdoh::writeback::RevokeOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (IsHelp(a)) {
      std::cout << kRevokeUsage;
      return 0;
    }
    if (a.rfind("--run", 0) == 0) {
      if (!TakeValue(args, i, "--run", &o.run_id))
        return Usage("--run needs a run id", kRevokeUsage);
    } else if (a.rfind("--config", 0) == 0) {
      if (!TakeValue(args, i, "--config", &o.config_path))
        return Usage("--config needs a file", kRevokeUsage);
    } else if (a.rfind("--source", 0) == 0) {
      if (!TakeValue(args, i, "--source", &o.source))
        return Usage("--source needs a URL", kRevokeUsage);
    } else if (a.rfind("--out", 0) == 0) {
      if (!TakeValue(args, i, "--out", &o.out)) return Usage("--out needs a folder", kRevokeUsage);
    } else {
      return Usage("unknown option '" + a + "'", kRevokeUsage);
    }
  }
  if (o.run_id.empty()) return Usage("revoke needs --run RUN_ID", kRevokeUsage);
  return sdoh::writeback::RevokeCommand(o, std::cout, std::cerr);
}

int Explain(const std::vector<std::string>& args) {
  sdoh::ExplainOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string v;
    if (IsHelp(a)) {
      std::cout << kExplainUsage;
      return 0;
    }
    if (a.rfind("--patient", 0) == 0) {
      if (!TakeValue(args, i, "--patient", &v))
        return Usage("--patient needs an id", kExplainUsage);
      if (v.rfind("Patient/", 0) == 0) v = v.substr(8);
      o.patients.push_back(v);
    } else if (a.rfind("--config", 0) == 0) {
      if (!TakeValue(args, i, "--config", &o.config_path))
        return Usage("--config needs a file", kExplainUsage);
    } else if (a.rfind("--source", 0) == 0) {
      if (!TakeValue(args, i, "--source", &o.source))
        return Usage("--source needs a value", kExplainUsage);
    } else {
      return Usage("unknown option '" + a + "'", kExplainUsage);
    }
  }
  if (o.patients.empty()) return Usage("explain needs --patient ID", kExplainUsage);
  return sdoh::ExplainCommand(o, std::cout, std::cerr);
}

int Check(const std::vector<std::string>& args) {
  std::string config_path, source;
  bool subscribe = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (IsHelp(a)) {
      std::cout << kCheckUsage;
      return 0;
    }
    if (a == "--subscribe") {
      subscribe = true;
    } else if (a.rfind("--config", 0) == 0) {
      if (!TakeValue(args, i, "--config", &config_path))
        return Usage("--config needs a file", kCheckUsage);
    } else if (a.rfind("--source", 0) == 0) {
      if (!TakeValue(args, i, "--source", &source))
        return Usage("--source needs a URL", kCheckUsage);
    } else {
      return Usage("unknown option '" + a + "'", kCheckUsage);
    }
  }
  auto config = sdoh::LoadConfig(config_path.empty() ? sdoh::DefaultConfigPath() : config_path);
  if (!config.ok()) {
    std::cerr << "sdoh-bridge: config error: " << config.status().message() << "\n";
    return 2;
  }
  if (!source.empty()) config->source = source;
  auto client = sdoh::ServerClientConfig(*config);
  if (!client.ok()) {
    std::cerr << "sdoh-bridge: config error: " << client.status().message() << "\n";
    return 2;
  }
  int code = sdoh::RunCheckCommand(*client, std::cout, std::cerr);
  if (code != 0 || !subscribe) return code;
  return sdoh::service::RunSubscribe(*config, *client, std::cout, std::cerr);
}

int TestRules(const std::vector<std::string>& args) {
  sdoh::TestRulesOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (IsHelp(a)) {
      std::cout << kTestRulesUsage;
      return 0;
    }
    if (a.rfind("--config", 0) == 0) {
      if (!TakeValue(args, i, "--config", &o.config_path))
        return Usage("--config needs a file", kTestRulesUsage);
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option '" + a + "'", kTestRulesUsage);
    } else {
      o.files.push_back(a);
    }
  }
  if (o.files.empty()) return Usage("test-rules needs at least one fixture file", kTestRulesUsage);
  return sdoh::TestRulesCommand(o, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string command = "run";
  if (!args.empty() && args[0].rfind("-", 0) != 0) {
    command = args[0];
    args.erase(args.begin());
  } else if (!args.empty() && IsHelp(args[0])) {
    std::cout << kUsage;
    return 0;
  }
  try {
    if (command == "run") return Run(args);
    if (command == "explain") return Explain(args);
    if (command == "test-rules") return TestRules(args);
    if (command == "check") return Check(args);
    if (command == "serve") return sdoh::service::RunServeCommand(args);
    if (command == "watch") return sdoh::service::RunWatchCommand(args);
    if (command == "report") return sdoh::RunReportCommand(args);
    if (command == "revoke") return Revoke(args);
    if (command == "referrals") return sdoh::RunReferralsCommand(args);
    if (command == "outreach") return sdoh::RunOutreachCommand(args);
    if (command == "version" || command == "--version") {
      std::cout << "sdoh-bridge " << SDOH_BRIDGE_VERSION << "\n";
      return 0;
    }
    if (command == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (command == "fhirpath") return sdoh::RunFhirpathCommand(args);
    if (command == "forms") return sdoh::RunFormsCommand(args);
    std::cerr << "sdoh-bridge: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "sdoh-bridge: fatal: " << e.what() << "\n";
    return 1;
  }
}
