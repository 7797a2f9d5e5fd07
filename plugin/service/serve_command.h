// `sdoh-bridge serve` and `sdoh-bridge watch`: load the pipeline like `run`; `serve` answers
// CDS Hooks, /notify, health and metrics; with `watch.interval` configured both run the watch
// loop (periodic passes = RunJob with the server writeback, and prompt passes after
// subscription notifications), owning the ledger for their lifetime. SIGTERM / SIGINT: stop
// accepting, finish in-flight requests and the current pass, exit 0.
//
// Flags (after `serve`): --help, --config FILE, --service-config FILE, --listen HOST:PORT,
// --public-base-url URL, --jwks FILE, --issuer ISS (repeatable), --no-auth, --interval SECONDS.
// `watch` takes --help, --config FILE, --interval SECONDS.
// The main config's `service:` map (or the `service:` map of --service-config FILE, which wins)
// has the keys listen, threads, public_base_url, service_id, no_auth, jwks_file,
// allowed_issuers, jwt_leeway_seconds (0..3600), body_limit_bytes, read_timeout_seconds and
// write_timeout_seconds (1..86400), max_connections, metrics_token_env, fhir_servers,
// fetch_threads, hide_sensitive_from (resource types of viewers who get no sensitive card;
// default [Patient, RelatedPerson]), feedback_max_outcomes (1..10000, default 100),
// issued_cards_kept (1..10000000, default 100000); threads is 1..256. Out-of-range values are
// config errors naming file:line.
// `watch:` has interval, backoff_seconds, max_backoff_seconds, notify_secret_env, notify_header and
// `subscription:` (see subscription.h). Flags override files.
// Exit codes: 0 stopped by signal; 1 cannot listen; 2 usage or config error; 4 another
// serve/watch owns the ledger.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "fhir/client/client_factory.h"
#include "fhir/status.h"
#include "plugin/service/cds_hooks.h"
#include "plugin/service/http_server.h"
#include "plugin/service/subscription.h"
#include "plugin/service/watch_loop.h"
#include "plugin/setup/config.h"

namespace sdoh::service {

struct ServeOptions {
  std::string config_path;
  HttpServerOptions http;
  std::string public_base_url;
  std::string service_id = "sdoh-bridge-patient-view";
  bool no_auth = false;
  std::string jwks_file;
  std::vector<std::string> allowed_issuers;
  int jwt_leeway_seconds = 30;
  std::string metrics_token_env = "SDOH_METRICS_TOKEN";
  // fhirServer values the service may read missing prefetch from; empty: the config's
  // `source` when it is a FHIR server.
  std::vector<std::string> fhir_servers;
  int fetch_threads = 4;
  CardOptions cards;                   // hide_sensitive_from
  size_t feedback_max_outcomes = 100;  // entries per feedback POST
  size_t issued_cards_kept = 100000;   // card uuids remembered for feedback
  // watch:
  WatchSettings watch;
  std::string notify_secret_env = "SDOH_NOTIFY_SECRET";
  std::string notify_header = "X-Sdoh-Notify-Secret";
  SubscriptionSettings subscription;
};

// Reads a `service:` map (node) into `options`. `file` names it in errors (file:line: key).
fhir::Status ParseServiceSection(const std::string& file, const YAML::Node& node,
                                 ServeOptions* options);
// Reads a `watch:` map.
fhir::Status ParseWatchSection(const std::string& file, const YAML::Node& node,
                               ServeOptions* options);
// Reads the `service:` map of a YAML file into `options`. Errors name file, line and key.
fhir::Status LoadServiceConfig(const std::string& path, ServeOptions* options);

// Parses "HOST:PORT" ("[::1]:8080" for IPv6).
fhir::Status ParseListen(const std::string& text, HttpServerOptions* http);

int RunServeCommand(const std::vector<std::string>& args);
// The same, calling `on_listening(port)` once the server accepts connections and the signal
// handlers are installed (tests use it to learn an ephemeral port).
int RunServeCommand(const std::vector<std::string>& args,
                    const std::function<void(uint16_t)>& on_listening);
// `sdoh-bridge watch`: the watch loop without the HTTP endpoints.
int RunWatchCommand(const std::vector<std::string>& args);

// `check --subscribe`: creates or renews the Subscription from the config's
// watch.subscription, with the secret from watch.notify_secret_env. Exit code as check's.
int RunSubscribe(const Config& config, const fhir::client::ClientConfig& client, std::ostream& out,
                 std::ostream& err);

}  // namespace sdoh::service
