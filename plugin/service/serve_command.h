// `sdoh-bridge serve`: loads the pipeline like `run`, then serves CDS Hooks until SIGTERM or
// SIGINT (stop accepting, finish in-flight requests, exit 0).
//
// Flags (after `serve`): --help, --config FILE, --service-config FILE, --listen HOST:PORT,
// --public-base-url URL, --jwks FILE, --issuer ISS (repeatable), --no-auth.
// --service-config is YAML with a `service:` map (the keys `service:` will have in the main
// config): listen, threads, public_base_url, service_id, no_auth, jwks_file, allowed_issuers,
// jwt_leeway_seconds, body_limit_bytes, read_timeout_seconds, write_timeout_seconds,
// metrics_token_env. Flags override the file.
// Exit codes: 0 stopped by signal, 2 usage or config error, 1 cannot listen.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fhir/status.h"
#include "plugin/service/http_server.h"

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
};

// Reads the `service:` map of a YAML file into `options`. Errors name file, line and key.
fhir::Status LoadServiceConfig(const std::string& path, ServeOptions* options);

// Parses "HOST:PORT" ("[::1]:8080" for IPv6).
fhir::Status ParseListen(const std::string& text, HttpServerOptions* http);

int RunServeCommand(const std::vector<std::string>& args);
// The same, calling `on_listening(port)` once the server accepts connections and the signal
// handlers are installed (tests use it to learn an ephemeral port).
int RunServeCommand(const std::vector<std::string>& args,
                    const std::function<void(uint16_t)>& on_listening);

}  // namespace sdoh::service
