#include "plugin/service/serve_command.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "plugin/commands/run_job.h"
#include "plugin/service/log_text.h"
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
      std::cout << " " << EscapeForLog(ref);  // from the notification body
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

// What serve/watch take on the command line; applied over the config's sections.
struct ServeArgs {
  std::vector<std::string> issuers;
  std::string listen, base_url, jwks, interval;
  bool no_auth = false;
  std::string service_config;
};

// What the process runs, owned for its lifetime. REQUIRES: not moved once the app exists (its
// notify handler refers to `loop`).
struct Service {
  // The watch loop owns the ledger for the life of the process.
  std::unique_ptr<writeback::LedgerOwner> owner;
  std::unique_ptr<WatchLoop> loop;
  Metrics* metrics = nullptr;
  std::shared_ptr<ServiceApp> app;
};

// Each step below returns an exit code to stop with, or nullopt to go on.
using Stop = std::optional<int>;

Stop ParseArgs(const std::vector<std::string>& args, bool with_http, ServeOptions* o,
               ServeArgs* sa) {
  const char* usage = with_http ? kUsage : kWatchUsage;
  const std::string command = with_http ? "serve" : "watch";
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
      ok = value(&o->config_path);
    } else if (a == "--interval") {
      ok = value(&sa->interval);
    } else if (with_http && a == "--service-config") {
      ok = value(&sa->service_config);
    } else if (with_http && a == "--listen") {
      ok = value(&sa->listen);
    } else if (with_http && a == "--public-base-url") {
      ok = value(&sa->base_url);
    } else if (with_http && a == "--jwks") {
      ok = value(&sa->jwks);
    } else if (with_http && a == "--issuer") {
      std::string iss;
      ok = value(&iss);
      sa->issuers.push_back(iss);
    } else if (with_http && a == "--no-auth") {
      sa->no_auth = true;
    } else {
      std::cerr << "sdoh-bridge " << command << ": unknown argument " << a << "\n" << usage;
      return 2;
    }
    if (!ok) {
      std::cerr << "sdoh-bridge " << command << ": " << a << " needs a value\n";
      return 2;
    }
  }
  return std::nullopt;
}

// The config's service: and watch: sections, --service-config, then the command line.
Stop ApplySettings(const Config& config, const ServeArgs& sa, const std::string& command,
                   ServeOptions* o) {
  if (config.service.IsDefined() && !config.service.IsNull()) {
    if (auto s = ParseServiceSection(o->config_path, config.service, o); !s.ok()) {
      std::cerr << "sdoh-bridge: config error: " << s.message() << "\n";
      return 2;
    }
  }
  if (config.watch.IsDefined() && !config.watch.IsNull()) {
    if (auto s = ParseWatchSection(o->config_path, config.watch, o); !s.ok()) {
      std::cerr << "sdoh-bridge: config error: " << s.message() << "\n";
      return 2;
    }
  }
  if (!sa.service_config.empty()) {
    if (auto s = LoadServiceConfig(sa.service_config, o); !s.ok()) {
      std::cerr << "sdoh-bridge: config error: " << s.message() << "\n";
      return 2;
    }
  }
  if (!sa.listen.empty()) {
    if (auto s = ParseListen(sa.listen, &o->http); !s.ok()) {
      std::cerr << "sdoh-bridge serve: " << s.message() << "\n";
      return 2;
    }
  }
  if (!sa.interval.empty()) {
    if (!ParseDuration(YAML::Node(sa.interval), &o->watch.interval)) {
      std::cerr << "sdoh-bridge " << command << ": --interval expects seconds (or 30s, 5m, 1h)\n";
      return 2;
    }
  }
  if (!sa.base_url.empty()) o->public_base_url = sa.base_url;
  if (!sa.jwks.empty()) o->jwks_file = sa.jwks;
  if (!sa.issuers.empty()) o->allowed_issuers = sa.issuers;
  if (sa.no_auth) o->no_auth = true;
  return std::nullopt;
}

// watch needs an interval; a watch loop needs a FHIR server as its source.
Stop CheckMode(bool with_http, bool watching, const Config& config, const ServeOptions& o) {
  if (!with_http && !watching) {
    std::cerr << "sdoh-bridge watch: watch.interval (or --interval) is required\n";
    return 2;
  }
  if (watching && !IsServerSource(config.source)) {
    std::cerr << "sdoh-bridge: config error: " << o.config_path
              << ": watch needs a FHIR server as `source` (got a folder)\n";
    return 2;
  }
  return std::nullopt;
}

// Auth (a JWT verifier unless no_auth), cards, feedback and metrics settings.
Stop BaseSettings(bool with_http, ServeOptions* o, ServiceSettings* settings) {
  settings->service_id = o->service_id;
  settings->no_auth = o->no_auth;
  if (with_http && !o->no_auth) {
    if (o->jwks_file.empty() || o->public_base_url.empty() || o->allowed_issuers.empty()) {
      std::cerr << "sdoh-bridge serve: JWT auth needs --jwks, --public-base-url and --issuer "
                   "(or --no-auth for local use)\n";
      return 2;
    }
    JwtPolicy policy;
    policy.allowed_issuers = o->allowed_issuers;
    policy.leeway_seconds = o->jwt_leeway_seconds;
    auto verifier = JwtVerifier::FromJwksFile(o->jwks_file, policy);
    if (!verifier.ok()) {
      std::cerr << "sdoh-bridge: config error: " << verifier.status().message() << "\n";
      return 2;
    }
    settings->verifier = *verifier;
  }
  while (!o->public_base_url.empty() && o->public_base_url.back() == '/') {
    o->public_base_url.pop_back();
  }
  settings->public_base_url = o->public_base_url;
  settings->cards = o->cards;
  settings->feedback_max_outcomes = o->feedback_max_outcomes;
  settings->issued_cards_kept = o->issued_cards_kept;
  if (const char* token = std::getenv(o->metrics_token_env.c_str())) {
    settings->metrics_token = token;
  }
  return std::nullopt;
}

// Missing prefetch: from the allow-listed servers, with the config's transport settings.
Stop AddPrefetchFetcher(const ServeOptions& o, const Pipeline& pipeline,
                        ServiceSettings* settings) {
  PrefetchFetcherOptions fo;
  fo.allowed_servers = o.fhir_servers;
  if (IsServerSource(pipeline.config.source)) {
    auto cc = ServerClientConfig(pipeline.config);
    if (!cc.ok()) {
      std::cerr << "sdoh-bridge: config error: " << cc.status().message() << "\n";
      return 2;
    }
    fo.client = *cc;
    if (fo.allowed_servers.empty()) fo.allowed_servers.push_back(cc->base_url);
  }
  if (!fo.allowed_servers.empty()) {
    settings->fetcher = std::make_shared<PrefetchFetcher>(std::move(fo), pipeline.catalog.get());
    settings->fetch_threads = o.fetch_threads;
  }
  return std::nullopt;
}

// The watch loop's ledger lock (exit 4 when another process holds it) and /notify's secret.
Stop OwnLedger(const ServeOptions& o, const Config& config, const std::string& command,
               Service* svc, ServiceSettings* settings) {
  const std::string ledger = writeback::LedgerPath(config);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(ledger).parent_path(), ec);
  auto acquired = writeback::LedgerOwner::Acquire(ledger, command);
  if (!acquired.ok()) {
    std::cerr << "sdoh-bridge " << command << ": " << acquired.status().message() << "\n";
    return 4;
  }
  svc->owner = std::move(*acquired);
  if (const char* secret = std::getenv(o.notify_secret_env.c_str())) {
    settings->notify_secret = secret;
  }
  settings->notify_header = o.notify_header;
  for (char& c : settings->notify_header) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return std::nullopt;
}

// /readyz: the FHIR server, a token, the ledger this process owns.
void AddReadiness(const Config& config, bool watching, ServiceSettings* settings) {
  std::shared_ptr<fhir::client::Client> probe_client;
  bool token_expected = false;
  if (IsServerSource(config.source)) {
    auto cc = ServerClientConfig(config);
    if (cc.ok()) {
      token_expected = cc->auth.type == "client_credentials" || cc->auth.type == "smart_backend";
      auto built = fhir::client::BuildClient(*cc);
      if (built.ok()) {
        probe_client = std::make_shared<fhir::client::Client>(std::move(built.value()));
      }
    }
  }
  settings->readiness = std::make_shared<ReadinessProbe>(
      probe_client, token_expected, watching ? writeback::LedgerPath(config) : std::string());
}

// The CDS Hooks app (serve) and the watch loop (with an interval).
void BuildService(std::shared_ptr<const Pipeline> pipeline, const ServeOptions& o, bool with_http,
                  bool watching, ServiceSettings settings, Service* svc) {
  if (with_http) {
    if (watching) {
      // The loop exists before the first notification can arrive (the server starts later).
      settings.on_notify = [loop = &svc->loop](const std::vector<std::string>& refs) {
        if (*loop) (*loop)->Notify(refs);
      };
    }
    svc->app = std::make_shared<ServiceApp>(std::move(pipeline), std::move(settings));
    svc->metrics = &svc->app->metrics();
  }
  if (watching) {
    const std::string config_path = o.config_path;
    Metrics* metrics = svc->metrics;
    svc->loop = std::make_unique<WatchLoop>(o.watch, [config_path, metrics](const PassRequest& r) {
      return RunPass(config_path, r, metrics);
    });
  }
}

// Starts the HTTP server and the watch loop, runs until SIGINT/SIGTERM, then waits for
// in-flight requests and the current pass.
int RunUntilStopped(const ServeOptions& o, const Config& config, const std::string& command,
                    bool with_http, Service* svc,
                    const std::function<void(uint16_t)>& on_listening) {
  std::unique_ptr<HttpServer> server;
  // Signals are caught before anything is announced: a SIGTERM right after "listening on" must
  // stop the process cleanly, not kill it (the handler runs once signals_ioc.run() starts).
  boost::asio::io_context signals_ioc;
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    std::cout << "sdoh-bridge " << command << ": stopping (in-flight requests and the current "
              << "pass finish first)" << std::endl;
    if (server) server->Stop();
    if (svc->loop) svc->loop->Stop();
  });
  if (with_http) {
    HttpServerOptions http = o.http;
    http.log = [](const std::string& line) {
      std::cerr << "sdoh-bridge serve: " << line << std::endl;
    };
    server = std::make_unique<HttpServer>(
        http, AsyncHttpHandler([app = svc->app](HttpRequest r, HttpResponder respond) {
          app->HandleAsync(std::move(r), std::move(respond));
        }));
    if (auto s = server->Start(); !s.ok()) {
      std::cerr << "sdoh-bridge serve: " << s.message() << "\n";
      return 1;
    }
    std::cout << "sdoh-bridge serve: listening on " << o.http.host << ":" << server->port()
              << (o.no_auth ? " (no auth)" : "") << std::endl;
    std::cout << "sdoh-bridge serve: at most " << server->max_connections()
              << " connections at once" << std::endl;
  }
  if (svc->loop) {
    std::cout << "sdoh-bridge " << command << ": watch loop every " << o.watch.interval.count()
              << " s, owning the ledger " << writeback::LedgerPath(config) << std::endl;
    if (with_http && std::getenv(o.notify_secret_env.c_str()) == nullptr) {
      std::cout << "sdoh-bridge serve: POST /notify is off: $" << o.notify_secret_env
                << " is not set" << std::endl;
    }
  }
  if (svc->loop) svc->loop->Start();
  if (on_listening) on_listening(server ? server->port() : 0);
  signals_ioc.run();
  if (server) server->Wait();
  if (svc->loop) svc->loop->Wait();
  svc->app.reset();
  std::cout << "sdoh-bridge " << command << ": stopped" << std::endl;
  return 0;
}

int RunService(const std::vector<std::string>& args, bool with_http,
               const std::function<void(uint16_t)>& on_listening) {
  const std::string command = with_http ? "serve" : "watch";
  ServeOptions o;
  ServeArgs sa;
  if (Stop stop = ParseArgs(args, with_http, &o, &sa)) return *stop;
  if (o.config_path.empty()) o.config_path = DefaultConfigPath();
  auto pipeline = LoadPipeline(o.config_path);
  if (!pipeline.ok()) {
    std::cerr << "sdoh-bridge: config error: " << pipeline.status().message() << "\n";
    return 2;
  }
  if (Stop stop = ApplySettings(pipeline->config, sa, command, &o)) return *stop;
  const bool watching = o.watch.interval.count() > 0;
  if (Stop stop = CheckMode(with_http, watching, pipeline->config, o)) return *stop;
  ServiceSettings settings;
  if (Stop stop = BaseSettings(with_http, &o, &settings)) return *stop;
  auto shared_pipeline = std::make_shared<const Pipeline>(std::move(*pipeline));
  const Config& config = shared_pipeline->config;
  if (Stop stop = AddPrefetchFetcher(o, *shared_pipeline, &settings)) return *stop;
  Service svc;
  if (watching) {
    if (Stop stop = OwnLedger(o, config, command, &svc, &settings)) return *stop;
  }
  if (with_http && !UseLedgerForFeedback(config, &settings, std::cerr)) return 1;
  if (with_http) AddReadiness(config, watching, &settings);
  BuildService(shared_pipeline, o, with_http, watching, std::move(settings), &svc);
  return RunUntilStopped(o, config, command, with_http, &svc, on_listening);
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
        if (o->http.threads < 1 || o->http.threads > 256) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": expected 1..256");
        }
      } else if (key == "max_connections") {
        const long n = v.as<long>();
        if (n < 1 || n > 100000) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": expected 1..100000");
        }
        o->http.max_connections = static_cast<size_t>(n);
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
        if (o->jwt_leeway_seconds < 0 || o->jwt_leeway_seconds > 3600) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": expected 0..3600");
        }
      } else if (key == "body_limit_bytes") {
        const long long n = v.as<long long>();
        if (n < 1)
          return fhir::Status::InvalidArgument(Where(path, v, where) +
                                               ": expected a positive byte count");
        o->http.body_limit = static_cast<size_t>(n);
      } else if (key == "read_timeout_seconds" || key == "write_timeout_seconds") {
        const int n = v.as<int>();
        if (n < 1 || n > 86400) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": expected 1..86400");
        }
        (key == "read_timeout_seconds" ? o->http.read_timeout : o->http.write_timeout) =
            std::chrono::seconds(n);
      } else if (key == "hide_sensitive_from") {
        o->cards.hide_sensitive_from = v.as<std::vector<std::string>>();
        for (const auto& t : o->cards.hide_sensitive_from) {
          if (t.empty() || t.find('/') != std::string::npos) {
            return fhir::Status::InvalidArgument(Where(path, v, where) +
                                                 ": expected resource type names");
          }
        }
      } else if (key == "feedback_max_outcomes" || key == "issued_cards_kept") {
        const long long n = v.as<long long>();
        const long long max = key == "feedback_max_outcomes" ? 10000 : 10000000;
        if (n < 1 || n > max) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": expected 1.." +
                                               std::to_string(max));
        }
        (key == "feedback_max_outcomes" ? o->feedback_max_outcomes : o->issued_cards_kept) =
            static_cast<size_t>(n);
      } else if (key == "metrics_token_env") {
        o->metrics_token_env = v.as<std::string>();
      } else if (key == "fhir_servers") {
        o->fhir_servers = v.as<std::vector<std::string>>();
      } else if (key == "fetch_threads") {
        o->fetch_threads = v.as<int>();
        if (o->fetch_threads < 1 || o->fetch_threads > 64) {
          return fhir::Status::InvalidArgument(Where(path, v, where) + ": expected 1..64");
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
  return CreateOrRenewSubscriptions(*built->fhir, o.subscription, config.identifier_system,
                                    o.notify_header, secret ? secret : "", out, err);
}

}  // namespace sdoh::service
