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

struct Config {
  std::string path;                // the config file
  std::string source;              // folder of NDJSON, or a FHIR base URL
  std::string out;                 // output folder
  std::string mappings;            // mappings folder
  std::vector<std::string> rules;  // rule files
  std::string time_zone_name = "UTC";
  fhir::TimeZone time_zone = fhir::TimeZone::Utc();
  size_t max_line_bytes = 16u << 20;
  size_t max_depth = 64;
  std::string identifier_system;
  std::map<std::string, RouteConfig> routes;  // by route name
  YAML::Node fhir;  // the `fhir:` section (FHIR server client settings), may be undefined
};

// True when `source` names a FHIR server (http:// or https://) rather than a folder.
bool IsServerSource(const std::string& source);

// The config used when --config is not given: ./config/sdoh-bridge.yaml when it exists,
// else the one in the source tree the binary was built from.
std::string DefaultConfigPath();

// Loads and validates a config file. Errors name file, line and key.
fhir::Result<Config> LoadConfig(const std::string& path);

}  // namespace sdoh
