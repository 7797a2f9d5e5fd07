// How requests to the FHIR server are authorised: none, HTTP Basic, a static bearer token,
// or OAuth 2.0 client_credentials with a client secret or SMART Backend Services
// private_key_jwt (RS384/ES384). OAuth tokens are cached, renewed ahead of expiry, one renewal
// at a time across threads, and dropped on a 401 so the client can renew and retry once.
// Secrets never appear in messages.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fhir/client/client_error.h"
#include "fhir/client/jwt.h"
#include "fhir/client/retry_policy.h"

namespace fhir::client {

class AuthProvider {
 public:
  virtual ~AuthProvider() = default;
  // The Authorization header value ("Bearer …", "Basic …"), or "" for none. May block while a
  // token is obtained. Thread-safe.
  virtual ClientResult<std::string> Authorization() = 0;
  // After a 401 to a request sent with `sent`: forget that credential. True when a retry with a
  // fresh Authorization() can help (only renewable tokens).
  virtual bool OnUnauthorized(const std::string& sent) {
    (void)sent;
    return false;
  }
  // Scopes granted with the current token ("" when not applicable or unknown).
  virtual std::string GrantedScope() { return ""; }
  virtual std::string Describe() const = 0;  // "none", "basic", "smart_backend (ES384, kid k1)"
};

class NoAuth : public AuthProvider {
 public:
  ClientResult<std::string> Authorization() override { return std::string(); }
  std::string Describe() const override { return "none"; }
};

class BasicAuth : public AuthProvider {
 public:
  BasicAuth(const std::string& user, const std::string& password);
  ClientResult<std::string> Authorization() override { return header_; }
  std::string Describe() const override { return "basic"; }

 private:
  std::string header_;
};

class BearerAuth : public AuthProvider {
 public:
  explicit BearerAuth(const std::string& token) : header_("Bearer " + token) {}
  ClientResult<std::string> Authorization() override { return header_; }
  std::string Describe() const override { return "bearer (static token)"; }

 private:
  std::string header_;
};

struct OAuthOptions {
  std::string token_url;  // empty: discovered (see OAuthTokenProvider)
  std::string client_id;
  std::string scope;  // space-separated, e.g. "system/Patient.rs system/Task.cru"
  // Exactly one of the two credentials:
  std::string client_secret;                     // client_secret_basic
  std::vector<SigningKey> keys;                  // private_key_jwt; several for rotation
  std::string active_kid;                        // which key signs; empty: the first
  std::chrono::seconds assertion_lifetime{300};  // ≤ 300 s (SMART)
  std::chrono::seconds max_renew_margin{60};     // renew this long before expiry at most
};

class OAuthTokenProvider : public AuthProvider {
 public:
  using TokenUrlDiscovery = std::function<ClientResult<std::string>()>;
  // `discover` is called (once, on first need) when options.token_url is empty; the FhirClient
  // passes one reading token_endpoint from .well-known/smart-configuration.
  OAuthTokenProvider(OAuthOptions options, std::shared_ptr<RetryingTransport> transport,
                     TokenUrlDiscovery discover = nullptr);

  ClientResult<std::string> Authorization() override;
  bool OnUnauthorized(const std::string& sent) override;
  std::string GrantedScope() override;
  std::string Describe() const override;

  // Switches the signing key (rotation). False when no key has that kid.
  bool SetActiveKid(const std::string& kid);
  uint64_t renewals() const;  // tokens obtained so far

 private:
  ClientResult<std::string> FetchToken(std::string* scope, std::chrono::seconds* lifetime);
  ClientResult<std::string> TokenUrl();
  const SigningKey* ActiveKey() const;

  OAuthOptions options_;
  std::shared_ptr<RetryingTransport> transport_;
  TokenUrlDiscovery discover_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool renewing_ = false;
  uint64_t generation_ = 0;  // bumped after each renewal attempt
  std::string token_;        // empty: none cached
  std::string scope_;
  std::chrono::steady_clock::time_point renew_at_{};
  std::chrono::steady_clock::time_point expires_at_{};
  std::optional<ClientError> last_error_;
  uint64_t renewals_ = 0;
  std::string token_url_;
};

}  // namespace fhir::client
