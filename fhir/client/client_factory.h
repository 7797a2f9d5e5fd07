// One plain config struct for the whole client (transport, retry, auth, paging) and the
// function that builds a ready FhirClient from it, reading secrets from the environment
// variables or files the config names. Config formats (YAML, CLI) map onto ClientConfig.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fhir/client/auth.h"
#include "fhir/client/fhir_client.h"
#include "fhir/client/http_transport.h"
#include "fhir/client/retry_policy.h"

namespace fhir::client {

struct KeyConfig {
  std::string private_key_file;  // PEM (PKCS#8 or traditional), unencrypted
  std::string kid;
  std::string alg = "RS384";  // RS384 | ES384
};

struct AuthConfig {
  std::string type = "none";  // none | basic | bearer | client_credentials | smart_backend
  std::string client_id;
  std::string scope;
  std::string token_url;  // empty: token_endpoint from .well-known/smart-configuration
  std::string username;   // basic
  std::string password_env, password_file;  // basic
  std::string token_env, token_file;        // bearer
  std::string secret_env, secret_file;      // client_credentials
  std::vector<KeyConfig> keys;              // smart_backend; the first signs unless active_kid
  std::string active_kid;
};

struct ClientConfig {
  std::string base_url;
  AuthConfig auth;
  CurlTransportOptions transport;
  RetryOptions retry;
  int page_size = 100;
  int max_pages = 10000;
};

struct Client {
  std::shared_ptr<RetryingTransport> transport;
  std::shared_ptr<AuthProvider> auth;
  std::shared_ptr<FhirClient> fhir;
};

// Validates the config and builds the client. Secrets are read now (an unset variable or an
// unreadable file is an error naming the config key, never the secret). Tokens are obtained
// lazily, on the first request. `transport` replaces libcurl (tests).
ClientResult<Client> BuildClient(const ClientConfig& config,
                                 std::shared_ptr<HttpTransport> transport = nullptr);

}  // namespace fhir::client
