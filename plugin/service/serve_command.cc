#include "plugin/service/serve_command.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "plugin/commands/run_job.h"
#include "plugin/service/service_app.h"
#include "plugin/setup/fhir_section.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/server_writeback.h"

namespace sdoh::service {

namespace {

constexpr const char* kUsage =
    "usage: sdoh-bridge serve [--config FILE] [--service-config FILE] [--listen HOST:PORT]\n"
    "                         [--public-base-url URL] [--jwks FILE] [--issuer ISS]... "
    "[--no-auth]\n"
    "                         [--interval SECONDS]\n"
    "Serves CDS Hooks patient-view (GET /cds-services, POST /cds-services/<id>, .../feedback),\n"
    "POST /notify (subscription notifications), /healthz, /readyz and /metrics until SIGTERM or\n"
    "SIGINT. Default listen 127.0.0.1:8080. CDS calls need an EHR JWT (RS384/ES384) verified\n"
    "against --jwks, unless --no-auth. With watch.interval (or --interval) it also runs the\n"
    "watch loop: a pass at start, every interval and promptly after notifications, owning the\n"
    "ledger. Settings: the config's service: and watch: sections (README \"Service mode\").\n";

constexpr const char* kWatchUsage =
    "usage: sdoh-bridge watch [--config FILE] [--interval SECONDS]\n"
    "Runs passes against the FHIR server (like `run`, with writeback) at start and every\n"
    "watch.interval (or --interval), backing off exponentially while the server fails, until\n"
    "SIGTERM or SIGINT (the current pass finishes first). Owns the ledger: a second serve or\n"
    "watch on it exits 4, and `run` exits 4 while it runs.\n";

std::string Where(const std::string& path, const YAML::Node& node, const std::string& key) {
  return path + ":" + std::to_string(node.Mark().line + 1) + ": " + key;
}

// "300", 300, "30s", "5m", "1h" → seconds.
bool ParseDuration(const YAML::Node& v, std::chrono::seconds* out) {
  std::string text = v.as<std::string>();
  if (text.empty()) return false;
  long mult = 1;
  char unit = text.back();
  if (unit == 's' || unit == 'm' || unit == 'h') {
    mult = unit == 's' ? 1 : unit == 'm' ? 60 : 3600;
    text.pop_back();
  }
  char* end = nullptr;
  long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < 0 || n > 86400L * 365) return false;
  *out = std::chrono::seconds(n * mult);
  return true;
}

// One pass of the watch loop: RunJob with the server writeback, in this process (which owns
// the ledger). Its readable summary goes to stdout, its errors to stderr, one status line each.
int RunPass(const std::string& config_path, const PassRequest& request, Metrics* metrics) {
  std::cout << "watch: pass " << request.number << " started (" << request.reason;
  if (!request.notified.empty()) {
    std::cout << "; notified:";
    size_t shown = 0;
    for (const auto& ref : request.notified) {
      if (shown++ == 10) {
        std::cout << " … (" << request.notified.size() << " in all)";
        break;
      }
      std::cout << " " << ref;
    }
  }
  std::cout << ")" << std::endl;
  RunOptions ro;
  ro.config_path = config_path;
  ro.writeback = &writeback::MakeServerWriteback;
  std::ostringstream out, err;
  int code = RunJob(ro, out, err);
  std::cout << out.str();
  if (!err.str().empty()) std::cerr << err.str();
  const char* result = code == 1 ? "failed" : code == 4 ? "busy" : code == 2 ? "failed" : "ok";
  if (metrics) metrics->CountPass(result);
  std::cout << "watch: pass " << request.number << " done, exit code " << code << " (" << result
            << ")" << std::endl;
  return code == 2 ? 1 : code;
}

int RunService(const std::vector<std::string>& args, bool with_http,
               const std::function<void(uint16_t)>& on_listening) {
  const char* usage = with_http ? kUsage : kWatchUsage;
  const std::string command = with_http ? "serve" : "watch";
  ServeOptions o;
  std::vector<std::string> issuers;
  std::string listen, base_url, jwks, interval;
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
      std::cout << usage;
      return 0;
    } else if (a == "--config") {
      ok = value(&o.config_path);
    } else if (a == "--interval") {
      ok = value(&interval);
    } else if (with_http && a == "--service-config") {
      ok = value(&service_config);
    } else if (with_http && a == "--listen") {
      ok = value(&listen);
    } else if (with_http && a == "--public-base-url") {
      ok = value(&base_url);
    } else if (with_http && a == "--jwks") {
      ok = value(&jwks);
    } else if (with_http && a == "--issuer") {
      std::string iss;
      ok = value(&iss);
      issuers.push_back(iss);
    } else if (with_http && a == "--no-auth") {
      no_auth = true;
    } else {
      std::cerr << "sdoh-bridge " << command << ": unknown argument " << a << "\n" << usage;
      return 2;
    }
    if (!ok) {
      std::cerr << "sdoh-bridge " << command << ": " << a << " needs a value\n";
      return 2;
    }
  }
  if (o.config_path.empty()) o.config_path = DefaultConfigPath();
  auto pipeline = LoadPipeline(o.config_path);
  if (!pipeline.ok()) {
    std::cerr << "sdoh-bridge: config error: " << pipeline.status().message() << "\n";
    return 2;
  }
  const Config& config = pipeline->config;
  if (config.service.IsDefined() && !config.service.IsNull()) {
    if (auto s = ParseServiceSection(o.config_path, config.service, &o); !s.ok()) {
      std::cerr << "sdoh-bridge: config error: " << s.message() << "\n";
      return 2;
    }
  }
  if (config.watch.IsDefined() && !config.watch.IsNull()) {
    if (auto s = ParseWatchSection(o.config_path, config.watch, &o); !s.ok()) {
      std::cerr << "sdoh-bridge: config error: " << s.message() << "\n";
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
  if (!interval.empty()) {
    if (!ParseDuration(YAML::Node(interval), &o.watch.interval)) {
      std::cerr << "sdoh-bridge " << command << ": --interval expects seconds (or 30s, 5m, 1h)\n";
      return 2;
    }
  }
  if (!base_url.empty()) o.public_base_url = base_url;
  if (!jwks.empty()) o.jwks_file = jwks;
  if (!issuers.empty()) o.allowed_issuers = issuers;
  if (no_auth) o.no_auth = true;

  const bool watching = o.watch.interval.count() > 0;
  if (!with_http && !watching) {
    std::cerr << "sdoh-bridge watch: watch.interval (or --interval) is required\n";
    return 2;
  }
  if (watching && !IsServerSource(config.source)) {
    std::cerr << "sdoh-bridge: config error: " << o.config_path
              << ": watch needs a FHIR server as `source` (got a folder)\n";
    return 2;
  }

  ServiceSettings settings;
  settings.service_id = o.service_id;
  settings.no_auth = o.no_auth;
  if (with_http && !o.no_auth) {
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

  // Missing prefetch: from the allow-listed servers, with the config's transport settings.
  auto shared_pipeline = std::make_shared<const Pipeline>(std::move(*pipeline));
  {
    PrefetchFetcherOptions fo;
    fo.allowed_servers = o.fhir_servers;
    if (IsServerSource(shared_pipeline->config.source)) {
      auto cc = ServerClientConfig(shared_pipeline->config);
      if (!cc.ok()) {
        std::cerr << "sdoh-bridge: config error: " << cc.status().message() << "\n";
        return 2;
      }
      fo.client = *cc;
      if (fo.allowed_servers.empty()) fo.allowed_servers.push_back(cc->base_url);
    }
    if (!fo.allowed_servers.empty()) {
      settings.fetcher =
          std::make_shared<PrefetchFetcher>(std::move(fo), shared_pipeline->catalog.get());
      settings.fetch_threads = o.fetch_threads;
    }
  }

  // The watch loop owns the ledger for the life of the process.
  std::unique_ptr<writeback::LedgerOwner> owner;
  std::unique_ptr<WatchLoop> loop;
  Metrics* metrics = nullptr;
  std::shared_ptr<ServiceApp> app;
  if (watching) {
    const std::string ledger = writeback::LedgerPath(shared_pipeline->config);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(ledger).parent_path(), ec);
    auto acquired = writeback::LedgerOwner::Acquire(ledger, command);
    if (!acquired.ok()) {
      std::cerr << "sdoh-bridge " << command << ": " << acquired.status().message() << "\n";
      return 4;
    }
    owner = std::move(*acquired);
    if (const char* secret = std::getenv(o.notify_secret_env.c_str())) {
      settings.notify_secret = secret;
    }
    settings.notify_header = o.notify_header;
    for (char& c : settings.notify_header) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  // /readyz: the FHIR server, a token, the ledger this process owns.
  if (with_http) {
    std::shared_ptr<fhir::client::Client> probe_client;
    bool token_expected = false;
    if (IsServerSource(shared_pipeline->config.source)) {
      auto cc = ServerClientConfig(shared_pipeline->config);
      if (cc.ok()) {
        token_expected = cc->auth.type == "client_credentials" || cc->auth.type == "smart_backend";
        auto built = fhir::client::BuildClient(*cc);
        if (built.ok()) {
          probe_client = std::make_shared<fhir::client::Client>(std::move(built.value()));
        }
      }
    }
    settings.readiness = std::make_shared<ReadinessProbe>(
        probe_client, token_expected,
        watching ? writeback::LedgerPath(shared_pipeline->config) : std::string());
  }

  if (with_http) {
    if (watching) {
      // The loop exists before the first notification can arrive (the server starts later).
      settings.on_notify = [&loop](const std::vector<std::string>& refs) {
        if (loop) loop->Notify(refs);
      };
    }
    app = std::make_shared<ServiceApp>(shared_pipeline, std::move(settings));
    metrics = &app->metrics();
  }
  if (watching) {
    const std::string config_path = o.config_path;
    loop = std::make_unique<WatchLoop>(o.watch, [config_path, metrics](const PassRequest& r) {
      return RunPass(config_path, r, metrics);
    });
  }

  std::unique_ptr<HttpServer> server;
  // Signals are caught before anything is announced: a SIGTERM right after "listening on" must
  // stop the process cleanly, not kill it (the handler runs once signals_ioc.run() starts).
  boost::asio::io_context signals_ioc;
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    std::cout << "sdoh-bridge " << command << ": stopping (in-flight requests and the current "
              << "pass finish first)" << std::endl;
    if (server) server->Stop();
    if (loop) loop->Stop();
  });
  if (with_http) {
    server = std::make_unique<HttpServer>(
        o.http, AsyncHttpHandler([app](HttpRequest r, HttpResponder respond) {
          app->HandleAsync(std::move(r), std::move(respond));
        }));
    if (auto s = server->Start(); !s.ok()) {
      std::cerr << "sdoh-bridge serve: " << s.message() << "\n";
      return 1;
    }
    std::cout << "sdoh-bridge serve: listening on " << o.http.host << ":" << server->port()
              << (o.no_auth ? " (no auth)" : "") << std::endl;
  }
  if (loop) {
    std::cout << "sdoh-bridge " << command << ": watch loop every " << o.watch.interval.count()
              << " s, owning the ledger " << writeback::LedgerPath(shared_pipeline->config)
              << std::endl;
    if (with_http && std::getenv(o.notify_secret_env.c_str()) == nullptr) {
      std::cout << "sdoh-bridge serve: POST /notify is off: $" << o.notify_secret_env
                << " is not set" << std::endl;
    }
  }
  if (loop) loop->Start();
  if (on_listening) on_listening(server ? server->port() : 0);
  signals_ioc.run();
  if (server) server->Wait();
  if (loop) loop->Wait();
  app.reset();
  std::cout << "sdoh-bridge " << command << ": stopped" << std::endl;
  return 0;
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

fhir::Status ParseServiceSection(const std::string& path, const YAML::Node& s, ServeOptions* o) {
  if (!s.IsMap()) {
    return fhir::Status::InvalidArgument(Where(path, s, "service") + ": expected a map");
  }
  for (const auto& kv : s) {
    std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    const std::string where = "service." + key;
    try {
      if (key == "listen") {
        if (auto st = ParseListen(v.as<std::string>(), &o->http); !st.ok()) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": " + st.message());
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
      } else if (key == "fhir_servers") {
        o->fhir_servers = v.as<std::vector<std::string>>();
      } else if (key == "fetch_threads") {
        o->fetch_threads = v.as<int>();
        if (o->fetch_threads < 1) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": must be positive");
        }
      } else {
        return fhir::Status::InvalidArgument(Where(path, kv.first, where) + ": unknown key");
      }
    } catch (const YAML::Exception&) {
      return fhir::Status::InvalidArgument(Where(path, v, where) + ": wrong type");
    }
  }
  return fhir::Status::Ok();
}

fhir::Status ParseWatchSection(const std::string& path, const YAML::Node& s, ServeOptions* o) {
  if (!s.IsMap()) {
    return fhir::Status::InvalidArgument(Where(path, s, "watch") + ": expected a map");
  }
  for (const auto& kv : s) {
    std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    const std::string where = "watch." + key;
    try {
      if (key == "interval" || key == "backoff_seconds" || key == "max_backoff_seconds") {
        std::chrono::seconds d{};
        if (!ParseDuration(v, &d) || (key != "interval" && d.count() == 0)) {
          return fhir::Status::InvalidArgument(Where(path, v, where) +
                                               ": expected seconds (or 30s, 5m, 1h)");
        }
        (key == "interval"          ? o->watch.interval
         : key == "backoff_seconds" ? o->watch.backoff
                                    : o->watch.max_backoff) = d;
      } else if (key == "notify_secret_env") {
        o->notify_secret_env = v.as<std::string>();
      } else if (key == "notify_header") {
        o->notify_header = v.as<std::string>();
      } else if (key == "subscription") {
        if (auto st = ParseSubscriptionSection(path, v, &o->subscription); !st.ok()) return st;
      } else {
        return fhir::Status::InvalidArgument(Where(path, kv.first, where) + ": unknown key");
      }
    } catch (const YAML::Exception&) {
      return fhir::Status::InvalidArgument(Where(path, v, where) + ": wrong type");
    }
  }
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
  return ParseServiceSection(path, s, o);
}

int RunServeCommand(const std::vector<std::string>& args) { return RunServeCommand(args, {}); }

int RunServeCommand(const std::vector<std::string>& args,
                    const std::function<void(uint16_t)>& on_listening) {
  return RunService(args, true, on_listening);
}

int RunWatchCommand(const std::vector<std::string>& args) { return RunService(args, false, {}); }

int RunSubscribe(const Config& config, const fhir::client::ClientConfig& client_config,
                 std::ostream& out, std::ostream& err) {
  ServeOptions o;
  if (config.watch.IsDefined() && !config.watch.IsNull()) {
    if (auto s = ParseWatchSection(config.path, config.watch, &o); !s.ok()) {
      err << "sdoh-bridge: config error: " << s.message() << "\n";
      return 2;
    }
  }
  const char* secret = std::getenv(o.notify_secret_env.c_str());
  auto built = fhir::client::BuildClient(client_config);
  if (!built.ok()) {
    err << "check --subscribe: " << built.error().ToString() << "\n";
    return 1;
  }
  return CreateOrRenewSubscription(*built->fhir, o.subscription, o.notify_header,
                                   secret ? secret : "", out, err);
}

}  // namespace sdoh::service
