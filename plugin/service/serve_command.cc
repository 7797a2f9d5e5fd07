#include "plugin/service/serve_command.h"

#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <iostream>

#include "plugin/pipeline.h"
#include "plugin/service/service_app.h"

namespace sdoh::service {

namespace {

constexpr const char* kUsage =
    "usage: sdoh-bridge serve [--config FILE] [--service-config FILE] [--listen HOST:PORT]\n"
    "                         [--public-base-url URL] [--jwks FILE] [--issuer ISS]... "
    "[--no-auth]\n"
    "Serves CDS Hooks patient-view (GET /cds-services, POST /cds-services/<id>, .../feedback),\n"
    "/healthz, /readyz and /metrics until SIGTERM or SIGINT. Default listen 127.0.0.1:8080.\n"
    "CDS calls need an EHR JWT (RS384/ES384) verified against --jwks, unless --no-auth.\n";

std::string Where(const std::string& path, const YAML::Node& node, const std::string& key) {
  return path + ":" + std::to_string(node.Mark().line + 1) + ": service." + key;
}

}  // namespace

fhir::Status ParseListen(const std::string& text, HttpServerOptions* http) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return fhir::Status::InvalidArgument("--listen " + text + ": expected HOST:PORT");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string port = text.substr(colon + 1);
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return fhir::Status::InvalidArgument("--listen " + text + ": port must be 0..65535");
  }
  http->host = host;
  http->port = static_cast<uint16_t>(p);
  return fhir::Status::Ok();
}

fhir::Status LoadServiceConfig(const std::string& path, ServeOptions* o) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return fhir::Status::InvalidArgument(path + ": " + e.what());
  }
  YAML::Node s = root["service"];
  if (!s) return fhir::Status::InvalidArgument(path + ": expected a `service:` map");
  if (!s.IsMap()) return fhir::Status::InvalidArgument(Where(path, s, "") + ": expected a map");
  for (const auto& kv : s) {
    std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    try {
      if (key == "listen") {
        if (auto st = ParseListen(v.as<std::string>(), &o->http); !st.ok()) {
          return fhir::Status::InvalidArgument(Where(path, v, key) + ": " + st.message());
        }
      } else if (key == "threads") {
        o->http.threads = v.as<int>();
      } else if (key == "public_base_url") {
        o->public_base_url = v.as<std::string>();
      } else if (key == "service_id") {
        o->service_id = v.as<std::string>();
      } else if (key == "no_auth") {
        o->no_auth = v.as<bool>();
      } else if (key == "jwks_file") {
        o->jwks_file = v.as<std::string>();
      } else if (key == "allowed_issuers") {
        o->allowed_issuers = v.as<std::vector<std::string>>();
      } else if (key == "jwt_leeway_seconds") {
        o->jwt_leeway_seconds = v.as<int>();
      } else if (key == "body_limit_bytes") {
        o->http.body_limit = v.as<size_t>();
      } else if (key == "read_timeout_seconds") {
        o->http.read_timeout = std::chrono::seconds(v.as<int>());
      } else if (key == "write_timeout_seconds") {
        o->http.write_timeout = std::chrono::seconds(v.as<int>());
      } else if (key == "metrics_token_env") {
        o->metrics_token_env = v.as<std::string>();
      } else {
        return fhir::Status::InvalidArgument(Where(path, kv.first, key) + ": unknown key");
      }
    } catch (const YAML::Exception&) {
      return fhir::Status::InvalidArgument(Where(path, v, key) + ": wrong type");
    }
  }
  return fhir::Status::Ok();
}

int RunServeCommand(const std::vector<std::string>& args) { return RunServeCommand(args, {}); }

int RunServeCommand(const std::vector<std::string>& args,
                    const std::function<void(uint16_t)>& on_listening) {
  ServeOptions o;
  std::vector<std::string> issuers;
  std::string listen, base_url, jwks;
  bool no_auth = false;
  std::string service_config;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    bool ok = true;
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--config") {
      ok = value(&o.config_path);
    } else if (a == "--service-config") {
      ok = value(&service_config);
    } else if (a == "--listen") {
      ok = value(&listen);
    } else if (a == "--public-base-url") {
      ok = value(&base_url);
    } else if (a == "--jwks") {
      ok = value(&jwks);
    } else if (a == "--issuer") {
      std::string iss;
      ok = value(&iss);
      issuers.push_back(iss);
    } else if (a == "--no-auth") {
      no_auth = true;
    } else {
      std::cerr << "sdoh-bridge serve: unknown argument " << a << "\n" << kUsage;
      return 2;
    }
    if (!ok) {
      std::cerr << "sdoh-bridge serve: " << a << " needs a value\n";
      return 2;
    }
  }
  if (!service_config.empty()) {
    if (auto s = LoadServiceConfig(service_config, &o); !s.ok()) {
      std::cerr << "sdoh-bridge: config error: " << s.message() << "\n";
      return 2;
    }
  }
  if (!listen.empty()) {
    if (auto s = ParseListen(listen, &o.http); !s.ok()) {
      std::cerr << "sdoh-bridge serve: " << s.message() << "\n";
      return 2;
    }
  }
  if (!base_url.empty()) o.public_base_url = base_url;
  if (!jwks.empty()) o.jwks_file = jwks;
  if (!issuers.empty()) o.allowed_issuers = issuers;
  if (no_auth) o.no_auth = true;

  auto pipeline = LoadPipeline(o.config_path.empty() ? DefaultConfigPath() : o.config_path);
  if (!pipeline.ok()) {
    std::cerr << "sdoh-bridge: config error: " << pipeline.status().message() << "\n";
    return 2;
  }
  ServiceSettings settings;
  settings.service_id = o.service_id;
  settings.no_auth = o.no_auth;
  if (!o.no_auth) {
    if (o.jwks_file.empty() || o.public_base_url.empty() || o.allowed_issuers.empty()) {
      std::cerr << "sdoh-bridge serve: JWT auth needs --jwks, --public-base-url and --issuer "
                   "(or --no-auth for local use)\n";
      return 2;
    }
    JwtPolicy policy;
    policy.allowed_issuers = o.allowed_issuers;
    policy.leeway_seconds = o.jwt_leeway_seconds;
    auto verifier = JwtVerifier::FromJwksFile(o.jwks_file, policy);
    if (!verifier.ok()) {
      std::cerr << "sdoh-bridge: config error: " << verifier.status().message() << "\n";
      return 2;
    }
    settings.verifier = *verifier;
  }
  while (!o.public_base_url.empty() && o.public_base_url.back() == '/') {
    o.public_base_url.pop_back();
  }
  settings.public_base_url = o.public_base_url;
  if (const char* token = std::getenv(o.metrics_token_env.c_str())) settings.metrics_token = token;

  auto app = std::make_shared<ServiceApp>(std::make_shared<const Pipeline>(std::move(*pipeline)),
                                          std::move(settings));
  HttpServer server(o.http, [app](const HttpRequest& r) { return app->Handle(r); });
  if (auto s = server.Start(); !s.ok()) {
    std::cerr << "sdoh-bridge serve: " << s.message() << "\n";
    return 1;
  }
  std::cout << "sdoh-bridge serve: listening on " << o.http.host << ":" << server.port()
            << (o.no_auth ? " (no auth)" : "") << std::endl;
  boost::asio::io_context signals_ioc;
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { server.Stop(); });
  if (on_listening) on_listening(server.port());
  signals_ioc.run();
  server.Wait();
  std::cout << "sdoh-bridge serve: stopped" << std::endl;
  return 0;
}

}  // namespace sdoh::service
