#include "plugin/setup/fhir_section.h"

#include "plugin/setup/config.h"

#include <chrono>
#include <set>
#include <vector>

namespace sdoh {
namespace {

using fhir::client::ClientConfig;

class Reader {
 public:
  explicit Reader(const std::string& file) : file_(file) {}

  std::string At(const YAML::Node& node, const std::string& key) const {
    std::string where = file_;
    if (node.Mark().line >= 0) {
      where +=
          ":" + std::to_string(node.Mark().line + 1) + ":" + std::to_string(node.Mark().column + 1);
    }
    return where + ": fhir." + key;
  }
  fhir::Status Error(const YAML::Node& node, const std::string& key, const std::string& what) {
    return fhir::Status::InvalidArgument(At(node, key) + ": " + what);
  }
  fhir::Status Keys(const YAML::Node& map, const std::string& prefix,
                    const std::set<std::string>& allowed) {
    if (!map.IsMap()) return Error(map, prefix, "expected a mapping");
    for (const auto& kv : map) {
      std::string k = kv.first.as<std::string>();
      if (allowed.count(k) == 0) {
        return Error(kv.first, prefix.empty() ? k : prefix + "." + k, "unknown key");
      }
    }
    return fhir::Status::Ok();
  }
  fhir::Status String(const YAML::Node& map, const std::string& key, const std::string& path,
                      std::string* out) {
    YAML::Node n = map[key];
    if (!n) return fhir::Status::Ok();
    if (!n.IsScalar()) return Error(n, path, "expected a string");
    *out = n.as<std::string>();
    return fhir::Status::Ok();
  }
  fhir::Status Int(const YAML::Node& map, const std::string& key, const std::string& path,
                   int64_t min, int64_t* out) {
    YAML::Node n = map[key];
    if (!n) return fhir::Status::Ok();
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) {
      return Error(n, path, "expected an integer");
    }
    if (v < min) return Error(n, path, "must be at least " + std::to_string(min));
    *out = v;
    return fhir::Status::Ok();
  }
  fhir::Status Bool(const YAML::Node& map, const std::string& key, const std::string& path,
                    bool* out) {
    YAML::Node n = map[key];
    if (!n) return fhir::Status::Ok();
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return Error(n, path, "expected true or false");
    }
    *out = v;
    return fhir::Status::Ok();
  }

 private:
  std::string file_;
};

#define SDOH_TRY(expr)        \
  do {                        \
    fhir::Status s_ = (expr); \
    if (!s_.ok()) return s_;  \
  } while (0)

fhir::Status ReadMs(Reader& r, const YAML::Node& map, const std::string& key,
                    const std::string& path, std::chrono::milliseconds* out, int64_t min) {
  int64_t v = out->count();
  SDOH_TRY(r.Int(map, key, path, min, &v));
  *out = std::chrono::milliseconds(v);
  return fhir::Status::Ok();
}

}  // namespace

fhir::Result<ClientConfig> ClientConfigFromYaml(const YAML::Node& section, const std::string& file,
                                                bool require_base_url) {
  Reader r(file);
  ClientConfig c;
  auto run = [&]() -> fhir::Status {
    SDOH_TRY(r.Keys(section, "",
                    {"base_url", "auth", "tls", "timeouts", "retry", "page_size", "max_pages",
                     "max_response_bytes", "bulk"}));
    if (!section["base_url"] && require_base_url) {
      return r.Error(section, "base_url", "required");
    }
    SDOH_TRY(r.String(section, "base_url", "base_url", &c.base_url));
    int64_t v = c.page_size;
    SDOH_TRY(r.Int(section, "page_size", "page_size", 1, &v));
    c.page_size = static_cast<int>(v);
    v = c.max_pages;
    SDOH_TRY(r.Int(section, "max_pages", "max_pages", 1, &v));
    c.max_pages = static_cast<int>(v);
    v = static_cast<int64_t>(c.transport.max_response_bytes);
    SDOH_TRY(r.Int(section, "max_response_bytes", "max_response_bytes", 1024, &v));
    c.transport.max_response_bytes = static_cast<size_t>(v);

    if (YAML::Node tls = section["tls"]) {
      SDOH_TRY(r.Keys(tls, "tls", {"verify", "ca_file", "ca_dir"}));
      SDOH_TRY(r.Bool(tls, "verify", "tls.verify", &c.transport.verify_tls));
      SDOH_TRY(r.String(tls, "ca_file", "tls.ca_file", &c.transport.ca_file));
      SDOH_TRY(r.String(tls, "ca_dir", "tls.ca_dir", &c.transport.ca_dir));
    }
    if (YAML::Node t = section["timeouts"]) {
      SDOH_TRY(r.Keys(t, "timeouts", {"connect_ms", "total_ms"}));
      SDOH_TRY(ReadMs(r, t, "connect_ms", "timeouts.connect_ms", &c.transport.connect_timeout, 1));
      SDOH_TRY(ReadMs(r, t, "total_ms", "timeouts.total_ms", &c.transport.total_timeout, 1));
    }
    if (YAML::Node rt = section["retry"]) {
      SDOH_TRY(
          r.Keys(rt, "retry",
                 {"max_attempts", "base_delay_ms", "max_delay_ms", "budget_ms", "deadline_ms"}));
      v = c.retry.max_attempts;
      SDOH_TRY(r.Int(rt, "max_attempts", "retry.max_attempts", 1, &v));
      c.retry.max_attempts = static_cast<int>(v);
      SDOH_TRY(ReadMs(r, rt, "base_delay_ms", "retry.base_delay_ms", &c.retry.base_delay, 0));
      SDOH_TRY(ReadMs(r, rt, "max_delay_ms", "retry.max_delay_ms", &c.retry.max_delay, 0));
      SDOH_TRY(ReadMs(r, rt, "budget_ms", "retry.budget_ms", &c.retry.budget, 0));
      SDOH_TRY(ReadMs(r, rt, "deadline_ms", "retry.deadline_ms", &c.retry.deadline, 1));
    }
    if (YAML::Node a = section["auth"]) {
      SDOH_TRY(r.Keys(a, "auth",
                      {"type", "client_id", "scope", "token_url", "username", "password_env",
                       "password_file", "token_env", "token_file", "secret_env", "secret_file",
                       "private_key_file", "kid", "alg", "keys", "active_kid"}));
      fhir::client::AuthConfig& ac = c.auth;
      SDOH_TRY(r.String(a, "type", "auth.type", &ac.type));
      static const std::set<std::string> kTypes = {"none", "basic", "bearer", "client_credentials",
                                                   "smart_backend"};
      if (kTypes.count(ac.type) == 0) {
        return r.Error(a["type"] ? a["type"] : a, "auth.type",
                       "'" + ac.type +
                           "' is not one of none, basic, bearer, client_credentials, "
                           "smart_backend");
      }
      for (auto [key, out] :
           std::vector<std::pair<const char*, std::string*>>{{"client_id", &ac.client_id},
                                                             {"scope", &ac.scope},
                                                             {"token_url", &ac.token_url},
                                                             {"username", &ac.username},
                                                             {"password_env", &ac.password_env},
                                                             {"password_file", &ac.password_file},
                                                             {"token_env", &ac.token_env},
                                                             {"token_file", &ac.token_file},
                                                             {"secret_env", &ac.secret_env},
                                                             {"secret_file", &ac.secret_file},
                                                             {"active_kid", &ac.active_kid}}) {
        SDOH_TRY(r.String(a, key, std::string("auth.") + key, out));
      }
      auto read_key = [&](const YAML::Node& k, const std::string& path) -> fhir::Status {
        fhir::client::KeyConfig kc;
        SDOH_TRY(r.String(k, "private_key_file", path + ".private_key_file", &kc.private_key_file));
        SDOH_TRY(r.String(k, "kid", path + ".kid", &kc.kid));
        SDOH_TRY(r.String(k, "alg", path + ".alg", &kc.alg));
        if (kc.private_key_file.empty()) return r.Error(k, path + ".private_key_file", "required");
        if (kc.kid.empty()) return r.Error(k, path + ".kid", "required");
        if (kc.alg != "RS384" && kc.alg != "ES384") {
          return r.Error(k["alg"] ? k["alg"] : k, path + ".alg", "expected RS384 or ES384");
        }
        ac.keys.push_back(kc);
        return fhir::Status::Ok();
      };
      if (a["private_key_file"]) SDOH_TRY(read_key(a, "auth"));
      if (YAML::Node keys = a["keys"]) {
        if (!keys.IsSequence()) return r.Error(keys, "auth.keys", "expected a list");
        for (size_t i = 0; i < keys.size(); ++i) {
          std::string path = "auth.keys[" + std::to_string(i) + "]";
          SDOH_TRY(r.Keys(keys[i], path, {"private_key_file", "kid", "alg"}));
          SDOH_TRY(read_key(keys[i], path));
        }
      }
      if (ac.type == "smart_backend" && ac.keys.empty()) {
        return r.Error(a, "auth.private_key_file", "required for smart_backend");
      }
      if ((ac.type == "smart_backend" || ac.type == "client_credentials") && ac.client_id.empty()) {
        return r.Error(a, "auth.client_id", "required for " + ac.type);
      }
    }
    return fhir::Status::Ok();
  };
  fhir::Status s = run();
  if (!s.ok()) return s;
  return c;
}

fhir::Result<ClientConfig> ServerClientConfig(const Config& config) {
  ClientConfig c;
  if (config.fhir.IsDefined() && !config.fhir.IsNull()) {
    auto parsed = ClientConfigFromYaml(config.fhir, config.path, !IsServerSource(config.source));
    if (!parsed.ok()) return parsed.status();
    c = std::move(*parsed);
  } else if (!IsServerSource(config.source)) {
    return fhir::Status::InvalidArgument(config.path +
                                         ": no FHIR server configured (set `source` to the "
                                         "server's base URL, or add a `fhir:` section)");
  }
  if (IsServerSource(config.source)) c.base_url = config.source;
  return c;
}

fhir::Result<BulkSettings> BulkSettingsFromConfig(const Config& config) {
  BulkSettings b;
  if (!config.fhir.IsDefined() || !config.fhir.IsMap()) return b;
  const YAML::Node section = config.fhir["bulk"];
  if (!section.IsDefined() || section.IsNull()) return b;
  Reader r(config.path);
  auto one_of = [&](const std::string& key, const std::vector<std::string>& allowed,
                    std::string* out) -> fhir::Status {
    SDOH_TRY(r.String(section, key, "bulk." + key, out));
    std::string list;
    for (const std::string& a : allowed) {
      if (*out == a) return fhir::Status::Ok();
      list += (list.empty() ? "" : ", ") + a;
    }
    return r.Error(section[key], "bulk." + key, "'" + *out + "' is not one of " + list);
  };
  auto run = [&]() -> fhir::Status {
    SDOH_TRY(r.Keys(section, "bulk",
                    {"level", "group", "type_filter", "kickoff", "max_retry_after_seconds",
                     "download_parallelism"}));
    SDOH_TRY(r.String(section, "group", "bulk.group", &b.group));
    if (!b.group.empty()) b.level = "group";  // a group alone says the level
    SDOH_TRY(one_of("level", {"system", "patient", "group"}, &b.level));
    if (b.level == "group" && b.group.empty()) {
      return r.Error(section["level"] ? section["level"] : section, "bulk.group",
                     "required with level group (the Group's id)");
    }
    if (b.level != "group" && !b.group.empty()) {
      return r.Error(section["group"], "bulk.group",
                     "only with level group (level is " + b.level + ")");
    }
    SDOH_TRY(one_of("type_filter", {"auto", "on", "off"}, &b.type_filter));
    SDOH_TRY(one_of("kickoff", {"auto", "get", "post"}, &b.kickoff));
    SDOH_TRY(r.Int(section, "max_retry_after_seconds", "bulk.max_retry_after_seconds", 1,
                   &b.max_retry_after_seconds));
    SDOH_TRY(r.Int(section, "download_parallelism", "bulk.download_parallelism", 1,
                   &b.download_parallelism));
    if (b.download_parallelism > 16) {
      return r.Error(section["download_parallelism"], "bulk.download_parallelism",
                     "must be at most 16");
    }
    return fhir::Status::Ok();
  };
  if (fhir::Status s = run(); !s.ok()) return s;
  return b;
}

fhir::Result<fhir::client::RestStoreOptions> BuildServerSource(const Config& config,
                                                               fhir::client::Client* client) {
  auto cc = ServerClientConfig(config);
  if (!cc.ok()) return cc.status();
  if (auto bulk = BulkSettingsFromConfig(config); !bulk.ok()) return bulk.status();
  auto built = fhir::client::BuildClient(*cc);
  if (!built.ok()) return fhir::Status::InvalidArgument(built.error().message);
  *client = std::move(built.value());
  fhir::client::RestStoreOptions ro;
  ro.page_size = cc->page_size;
  ro.max_pages = cc->max_pages;
  return ro;
}

std::optional<fhir::client::Client> BuildServerClient(const Config& config, std::ostream& err) {
  auto cc = ServerClientConfig(config);
  if (!cc.ok()) {
    err << "sdoh-bridge: config error: " << cc.status().message() << "\n";
    return std::nullopt;
  }
  auto client = fhir::client::BuildClient(*cc);
  if (!client.ok()) {
    err << "sdoh-bridge: config error: " << client.error().message << "\n";
    return std::nullopt;
  }
  return std::move(client.value());
}

}  // namespace sdoh
