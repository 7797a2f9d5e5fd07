#include "fhir/client/client_factory.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "fhir/client/url.h"
#include "fhir/json.h"

namespace fhir::client {
namespace {

ClientError ConfigError(const std::string& key, const std::string& what) {
  return ClientError::Make(ClientError::Kind::kInvalidArgument, "fhir." + key + ": " + what);
}

// A secret from an environment variable or a file (trailing newline dropped).
ClientResult<std::string> ReadSecret(const std::string& env_key, const std::string& env_name,
                                     const std::string& file_key, const std::string& file) {
  if (!env_name.empty()) {
    const char* v = std::getenv(env_name.c_str());
    if (v == nullptr || *v == '\0') {
      return ConfigError(env_key, "environment variable " + env_name + " is not set or empty");
    }
    return std::string(v);
  }
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return ConfigError(file_key, "cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.empty()) return ConfigError(file_key, file + " is empty");
    return s;
  }
  return ConfigError(env_key, "set " + env_key + " or " + file_key);
}

}  // namespace

ClientResult<Client> BuildClient(const ClientConfig& config,
                                 std::shared_ptr<HttpTransport> transport) {
  if (!ParseUrl(config.base_url)) {
    return ConfigError("base_url", "'" + config.base_url + "' is not an absolute http(s) URL");
  }
  if (config.page_size < 1) return ConfigError("page_size", "must be at least 1");
  if (config.max_pages < 1) return ConfigError("max_pages", "must be at least 1");
  if (config.retry.max_attempts < 1) return ConfigError("retry.max_attempts", "must be >= 1");
  if (!transport) transport = std::make_shared<CurlTransport>(config.transport);
  Client c;
  c.transport =
      std::make_shared<RetryingTransport>(transport, config.retry, nullptr, nullptr, nullptr);
  const AuthConfig& a = config.auth;
  if (a.type == "none") {
    c.auth = std::make_shared<NoAuth>();
  } else if (a.type == "basic") {
    if (a.username.empty()) return ConfigError("auth.username", "required for basic auth");
    ClientResult<std::string> pw =
        ReadSecret("auth.password_env", a.password_env, "auth.password_file", a.password_file);
    if (!pw.ok()) return pw.error();
    c.auth = std::make_shared<BasicAuth>(a.username, pw.value());
  } else if (a.type == "bearer") {
    ClientResult<std::string> tok =
        ReadSecret("auth.token_env", a.token_env, "auth.token_file", a.token_file);
    if (!tok.ok()) return tok.error();
    c.auth = std::make_shared<BearerAuth>(tok.value());
  } else if (a.type == "client_credentials" || a.type == "smart_backend") {
    if (a.client_id.empty()) return ConfigError("auth.client_id", "required for " + a.type);
    if (!a.token_url.empty() && !ParseUrl(a.token_url)) {
      return ConfigError("auth.token_url", "'" + a.token_url + "' is not an absolute URL");
    }
    OAuthOptions o;
    o.token_url = a.token_url;
    o.client_id = a.client_id;
    o.scope = a.scope;
    o.active_kid = a.active_kid;
    if (a.type == "client_credentials") {
      ClientResult<std::string> secret =
          ReadSecret("auth.secret_env", a.secret_env, "auth.secret_file", a.secret_file);
      if (!secret.ok()) return secret.error();
      o.client_secret = secret.value();
    } else {
      if (a.keys.empty()) return ConfigError("auth.private_key_file", "required for smart_backend");
      for (const KeyConfig& k : a.keys) {
        if (k.kid.empty()) return ConfigError("auth.kid", "required for smart_backend");
        if (k.alg != "RS384" && k.alg != "ES384") {
          return ConfigError("auth.alg", "'" + k.alg + "' is not RS384 or ES384");
        }
        ClientResult<SigningKey> key = SigningKey::FromPemFile(
            k.private_key_file, k.alg == "RS384" ? JwsAlg::kRS384 : JwsAlg::kES384, k.kid);
        if (!key.ok()) return ConfigError("auth.private_key_file", key.error().message);
        o.keys.push_back(key.value());
      }
    }
    // Token endpoint discovery reads the public smart-configuration (no credential needed).
    FhirClientOptions discovery_options;
    discovery_options.base_url = config.base_url;
    auto discovery =
        std::make_shared<FhirClient>(discovery_options, c.transport, std::make_shared<NoAuth>());
    auto discover = [discovery]() -> ClientResult<std::string> {
      ClientResult<Response> sc = discovery->SmartConfiguration();
      if (!sc.ok()) {
        ClientError e = sc.error();
        e.kind = ClientError::Kind::kAuth;
        e.message = "token endpoint discovery failed (set fhir.auth.token_url): " + e.message;
        return e;
      }
      std::string_view url = json::StrMember(*sc->body, "token_endpoint");
      if (url.empty() || !ParseUrl(url)) {
        return ClientError::Make(ClientError::Kind::kAuth,
                                 "smart-configuration has no usable token_endpoint");
      }
      return std::string(url);
    };
    c.auth = std::make_shared<OAuthTokenProvider>(o, c.transport, discover);
  } else {
    return ConfigError("auth.type", "'" + a.type +
                                        "' is not one of none, basic, bearer, "
                                        "client_credentials, smart_backend");
  }
  FhirClientOptions fo;
  fo.base_url = config.base_url;
  fo.max_pages = config.max_pages;
  c.fhir = std::make_shared<FhirClient>(fo, c.transport, c.auth);
  return c;
}

}  // namespace fhir::client
