// sdoh-bridge.yaml: where screenings come from, where results go, which mappings and rules,
// and the referral policy per route. Relative paths are resolved against the folder that
// holds the config file.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "fhir/datetime.h"
#include "fhir/status.h"

namespace sdoh {

struct RouteConfig {
  std::string label;                   // in card text: "consider referral to <label>"
  std::vector<std::string> resources;  // subset of ServiceRequest, Task, Flag
  bool review = false;                 // ServiceRequest as draft proposal, no Task
  std::string requester;               // Reference, e.g. "Organization/clinic"
  std::string performer;
  std::string owner;  // Task.owner
  // Issue 15 item 1: who gets the follow-up Task when a referral bounces or stalls (the route's
  // care-management owner); empty: the requester.
  std::string care_manager;
  // `consent: required` (issue 14 item 2): the ServiceRequest stays a draft proposal without a
  // Task until an active Consent for the patient with `consent_category` (system|code) — and,
  // when set, `consent_policy` (Consent.policy.uri or policyRule coding system|code) — is on the
  // server; the pass that finds it activates the referral and lists the Consent in supportingInfo.
  bool consent_required = false;
  std::string consent_category;
  std::string consent_policy;
  std::string priority = "routine";  // Task.priority (routine | urgent | asap | stat)
};

// `screening:` (issue 14 item 1).
struct ScreeningConfig {
  // A need whose newest deciding screening is older than this (against --now) is stale: it is
  // kept in flags.ndjson with "stale": true, gets no new referral, and our active Flag for it
  // goes inactive. 0: no age limit.
  int max_age_days = 365;
};

// Writeback to a FHIR server (issue 5): ledger, batching, suppression policy, audit, sync.
struct WritebackConfig {
  std::string ledger;              // SQLite ledger; empty: <out>/ledger.sqlite
  int batch_size = 8;              // conditional entries per transaction Bundle
  int suppression_days = 30;       // re-refer after a closed referral only after this many days
  std::string audit_log;           // JSON lines; empty: <out>/audit.jsonl
  int audit_retention_days = 90;   // older audit lines are dropped when the log is opened
  int sync_overlap_seconds = 300;  // the incremental cursor is moved back by this much
  int lock_wait_seconds = 0;       // a second process waits this long for the ledger lock
  // Rule-set versions the admin withdrew ("1.0.0", or "<ruleset id> 1.0.0"): an open referral
  // written under one of them whose need the current rules no longer find is revoked.
  std::vector<std::string> withdrawn_rulesets;
  // A writeback pass that would create more referrals than this writes nothing and exits 1,
  // unless `run --allow-large` (issue 14 item 1).
  int max_new_referrals_per_pass = 500;
  // CDS Hooks feedback (issue 14 item 7): a card overridden with a reason (patient-declined,
  // already-addressed, ...) suppresses a new referral for that (patient, need) for this many
  // days after the override (0: feedback is recorded but never suppresses). A newer screening
  // lifts it early only when `declined_lifted_by_new_screening` is true.
  int declined_days = 90;
  bool declined_lifted_by_new_screening = false;
};

// Issue 15 item 1 (closing the loop): when a referral Task counts as stalled.
struct LoopConfig {
  int accept_within_days = 7;     // still `requested` after this: stalled
  int complete_within_days = 30;  // accepted / in-progress without a change for this long
};

// Issue 15 item 1: `flags:`. A chart Flag whose referral was completed says so, and goes
// inactive this many days after the completion (0: it stays active until a negative rescreen).
struct FlagsConfig {
  int after_completion_days = 30;
};

// Issue 15 item 4: `outreach:`.
struct OutreachConfig {
  int rescreen_after_days = 365;  // a screening older than this is due again
  // `outreach --write`: the canonical of the form the patient Task asks for (required for
  // --write), the questionnaire-category code (SDOHCC temporary codes; UNVERIFIED, see README)
  // and the requester reference ("" none).
  std::string questionnaire;
  std::string questionnaire_category = "risk-questionnaire";
  std::string requester;
};

// Issue 15 item 3: `directory:`, the service directory a referral's performer is chosen from
// (plugin/referrals/directory.h). Unset (source empty): every referral goes to its route's
// performer, as before.
struct DirectoryConfig {
  std::string source;             // NDJSON folder or FHIR base URL; "" = no directory
  bool require_language = false;  // a service must offer the patient's language
  // The SDOHCC capacity-status extension URL (SDOHCC 3.0.0 build; configurable).
  std::string capacity_extension;
};

// The most threads `threads:` and `run --threads` accept: each thread holds up to two parse
// chunks (~1 MiB), so a mistyped count must not become a run that cannot start.
constexpr size_t kMaxThreads = 256;

struct Config {
  std::string path;    // the config file
  std::string source;  // folder of NDJSON, or a FHIR base URL
  // Other base URLs of the source's server: an absolute subject reference on one of them is
  // local; on any other base it is foreign and ignored (issue 13 #7).
  std::vector<std::string> source_aliases;
  // `screening.future_skew_hours`: a screening dated more than this after the pass's time is
  // ignored as future-dated (issue 13 #8).
  int future_skew_hours = 24;
  std::string out;                 // output folder
  std::string mappings;            // mappings folder
  std::vector<std::string> rules;  // rule files
  std::string time_zone_name = "UTC";
  fhir::TimeZone time_zone = fhir::TimeZone::Utc();
  size_t max_line_bytes = 16u << 20;
  size_t max_depth = 64;
  // `threads:` (issue 17); 0: the cores the process may use. With more than one: the threads
  // parsing an NDJSON folder source or a Bulk export's files; a server source's next search
  // pages fetched ahead; the writeback's look-ups of the next patients run ahead. Outputs are
  // byte-identical whatever the count. At most kMaxThreads (config and --threads alike).
  size_t threads = 0;
  // forms.infer: read forms mappings/forms/ does not name through their Questionnaire's item
  // codes or their LOINC-shaped linkIds (issue 14 item 5a).
  bool infer_forms = true;
  std::string identifier_system;
  std::map<std::string, RouteConfig> routes;  // by route name
  // referrals.rule_priority: rule id → Task.priority; the highest of the rules that fired and
  // the route's priority wins (routine < urgent < asap < stat).
  std::map<std::string, std::string> rule_priority;
  LoopConfig loop;  // referrals.accept_within_days, referrals.complete_within_days
  ScreeningConfig screening;
  OutreachConfig outreach;
  FlagsConfig flags;  // flags.after_completion_days
  DirectoryConfig directory;
  WritebackConfig writeback;
  YAML::Node fhir;  // the `fhir:` section (FHIR server client settings), may be undefined
  // `service:` and `watch:` (issue 6), may be undefined; read and checked key by key by
  // `serve` / `watch` (plugin/service/serve_command.h), which `run` does not need.
  YAML::Node service;
  YAML::Node watch;
};

// Request priority (FHIR R4 request-priority): routine < urgent < asap < stat; -1 for others.
int TaskPriorityRank(const std::string& priority);
bool IsTaskPriority(const std::string& priority);

// True when `source` names a FHIR server (http:// or https://) rather than a folder.
bool IsServerSource(const std::string& source);

// The config used when --config is not given: ./config/sdoh-bridge.yaml when it exists,
// else the one in the source tree the binary was built from.
std::string DefaultConfigPath();

// Loads and validates a config file. Errors name file, line and key.
fhir::Result<Config> LoadConfig(const std::string& path);

}  // namespace sdoh
