// The `fhir:` section of sdoh-bridge.yaml → fhir::client::ClientConfig. Errors name the file,
// line and key (e.g. "cfg.yaml:12:5: fhir.retry.max_attempts: expected an integer").
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "fhir/client/client_factory.h"
#include "fhir/client/rest_store.h"
#include "fhir/status.h"

namespace sdoh {

// `section` is the node under `fhir:`; `file` is used in messages only.
fhir::Result<fhir::client::ClientConfig> ClientConfigFromYaml(const YAML::Node& section,
                                                              const std::string& file);

struct Config;

// The client settings for the configured server: the `fhir:` section when present, with the
// base URL taken from `source` when that is a URL (a --source override wins); else defaults
// for `source`. InvalidArgument (config error) when there is no server to talk to.
fhir::Result<fhir::client::ClientConfig> ServerClientConfig(const Config& config);

// The configured server as a source: its client (into *client) and the RestStore options of
// the config (page size, max pages). Non-OK is a config error (exit 2) saying what is wrong.
fhir::Result<fhir::client::RestStoreOptions> BuildServerSource(const Config& config,
                                                               fhir::client::Client* client);

}  // namespace sdoh
