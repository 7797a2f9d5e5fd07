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
  std::vector<std::string> resources;  // subset of ServiceRequest, Task, Flag
  bool review = false;                 // ServiceRequest as draft proposal, no Task
  std::string requester;               // Reference, e.g. "Organization/clinic"
  std::string performer;
  std::string owner;  // Task.owner
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
};

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
  std::string identifier_system;
  std::map<std::string, RouteConfig> routes;  // by route name
  WritebackConfig writeback;
  YAML::Node fhir;  // the `fhir:` section (FHIR server client settings), may be undefined
  // `service:` and `watch:` (issue 6), may be undefined; read and checked key by key by
  // `serve` / `watch` (plugin/service/serve_command.h), which `run` does not need.
  YAML::Node service;
  YAML::Node watch;
};

// True when `source` names a FHIR server (http:// or https://) rather than a folder.
bool IsServerSource(const std::string& source);

// The config used when --config is not given: ./config/sdoh-bridge.yaml when it exists,
// else the one in the source tree the binary was built from.
std::string DefaultConfigPath();

// Loads and validates a config file. Errors name file, line and key.
fhir::Result<Config> LoadConfig(const std::string& path);

}  // namespace sdoh
