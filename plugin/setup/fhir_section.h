// The `fhir:` section of sdoh-bridge.yaml → fhir::client::ClientConfig. Errors name the file,
// line and key (e.g. "cfg.yaml:12:5: fhir.retry.max_attempts: expected an integer").
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include <yaml-cpp/yaml.h>

#include "fhir/client/client_factory.h"
#include "fhir/client/rest_store.h"
#include "fhir/status.h"

namespace sdoh {

// `section` is the node under `fhir:`; `file` is used in messages only. `base_url` may be left
// out only when `require_base_url` is false (the source names the server).
struct Config;

fhir::Result<fhir::client::ClientConfig> ClientConfigFromYaml(const YAML::Node& section,
                                                              const std::string& file,
                                                              bool require_base_url = true);

// `fhir.bulk:` (issue 16): how `run --bulk` exports. Flags of `run` override level and group.
struct BulkSettings {
  std::string level = "system";           // system | patient | group
  std::string group;                      // Group id, with level group
  std::string type_filter = "auto";       // auto | on | off (Observation _typeFilter)
  std::string kickoff = "auto";           // auto | get | post
  int64_t max_retry_after_seconds = 600;  // a longer Retry-After stops the run
  int64_t download_parallelism = 2;       // files fetched at once
};
// The `fhir.bulk:` section of the config (defaults when absent). InvalidArgument naming the file,
// line and key (e.g. "cfg.yaml:40:12: fhir.bulk.kickoff: 'put' is not one of auto, get, post").
fhir::Result<BulkSettings> BulkSettingsFromConfig(const Config& config);

// The client settings for the configured server: the `fhir:` section when present, with the
// base URL taken from `source` when that is a URL (a --source override wins); else defaults
// for `source`. InvalidArgument (config error) when there is no server to talk to.
fhir::Result<fhir::client::ClientConfig> ServerClientConfig(const Config& config);

// The client for the configured server (ServerClientConfig, then BuildClient); nullopt after
// printing "sdoh-bridge: config error: <why>" to `err` (the caller exits 2).
std::optional<fhir::client::Client> BuildServerClient(const Config& config, std::ostream& err);

// The configured server as a source: its client (into *client) and the RestStore options of
// the config (page size, max pages). Non-OK is a config error (exit 2) saying what is wrong.
fhir::Result<fhir::client::RestStoreOptions> BuildServerSource(const Config& config,
                                                               fhir::client::Client* client);

}  // namespace sdoh
