#include "fhir/client/auth.h"

#include <algorithm>
#include <cstdlib>

#include "fhir/client/redact.h"
#include "fhir/client/url.h"
#include "fhir/json.h"

namespace fhir::client {
namespace {

constexpr int64_t kMaxTokenLifetimeSeconds = 24 * 3600;

std::string Base64(std::string_view bytes) {
  std::string s = Base64UrlEncode(bytes);
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4 != 0) s += '=';
  return s;
}

}  // namespace

BasicAuth::BasicAuth(const std::string& user, const std::string& password)
    : header_("Basic " + Base64(user + ":" + password)) {}

OAuthTokenProvider::OAuthTokenProvider(OAuthOptions options,
                                       std::shared_ptr<RetryingTransport> transport,
                                       TokenUrlDiscovery discover)
    : options_(std::move(options)),
      transport_(std::move(transport)),
      discover_(std::move(discover)) {
  token_url_ = options_.token_url;
}

std::string OAuthTokenProvider::Describe() const {
  if (const SigningKey* key = ActiveKey()) {
    return "smart_backend (" + std::string(JwsAlgName(key->alg())) + ", kid " + key->kid() +
           ", client_id " + options_.client_id + ")";
  }
  return "client_credentials (client secret, client_id " + options_.client_id + ")";
}

const SigningKey* OAuthTokenProvider::ActiveKey() const {
  if (options_.keys.empty()) return nullptr;
  for (const SigningKey& k : options_.keys) {
    if (k.kid() == options_.active_kid) return &k;
  }
  return &options_.keys.front();
}

bool OAuthTokenProvider::SetActiveKid(const std::string& kid) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const SigningKey& k : options_.keys) {
    if (k.kid() == kid) {
      options_.active_kid = kid;
      return true;
    }
  }
  return false;
}

uint64_t OAuthTokenProvider::renewals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return renewals_;
}

std::string OAuthTokenProvider::GrantedScope() {
  std::lock_guard<std::mutex> lock(mu_);
  return scope_;
}

ClientResult<std::string> OAuthTokenProvider::TokenUrl() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!token_url_.empty()) return token_url_;
  }
  if (!discover_) {
    return ClientError::Make(ClientError::Kind::kAuth,
                             "no token_url configured and no smart-configuration to discover it");
  }
  ClientResult<std::string> url = discover_();
  if (!url.ok()) return url;
  std::lock_guard<std::mutex> lock(mu_);
  token_url_ = url.value();
  return token_url_;
}

ClientResult<std::string> OAuthTokenProvider::Authorization() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto now = transport_->clock().Now();
    if (!token_.empty() && now < renew_at_) return "Bearer " + token_;
    if (!renewing_) break;
    uint64_t seen = generation_;
    cv_.wait(lock, [&] { return generation_ != seen; });
    // The renewal we waited for failed: report its error instead of starting a storm of them.
    if (token_.empty() && last_error_) return *last_error_;
  }
  renewing_ = true;
  // The server starts a token's lifetime when it receives the request, so counting from when
  // it was sent (not when the answer arrived) never overestimates how long the token lives.
  const auto requested_at = transport_->clock().Now();
  lock.unlock();
  std::string scope;
  std::chrono::seconds lifetime{0};
  ClientResult<std::string> fetched = FetchToken(&scope, &lifetime);
  lock.lock();
  renewing_ = false;
  ++generation_;
  auto now = transport_->clock().Now();
  ClientResult<std::string> out = std::string();
  if (fetched.ok()) {
    ++renewals_;
    token_ = fetched.value();
    scope_ = scope.empty() ? options_.scope : scope;
    // Renew ahead of expiry: a fifth of the lifetime, at most max_renew_margin. In
    // milliseconds: whole seconds made the margin 0 for tokens living under 5 s.
    auto margin = std::min<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(lifetime) / 5,
        options_.max_renew_margin);
    expires_at_ = requested_at + lifetime;
    renew_at_ = expires_at_ - margin;
    last_error_.reset();
    out = "Bearer " + token_;
  } else if (!token_.empty() && now < expires_at_) {
    out = "Bearer " + token_;  // renewal ahead of time failed; the old token is still valid
  } else {
    token_.clear();
    last_error_ = fetched.error();
    out = fetched.error();
  }
  cv_.notify_all();
  return out;
}

bool OAuthTokenProvider::OnUnauthorized(const std::string& sent) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!token_.empty() && sent == "Bearer " + token_) token_.clear();
  return true;
}

ClientResult<std::string> OAuthTokenProvider::FetchToken(std::string* scope,
                                                         std::chrono::seconds* lifetime) {
  ClientResult<std::string> url = TokenUrl();
  if (!url.ok()) return url;
  const SigningKey* key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    key = ActiveKey();
  }
  HttpRequest req;
  req.method = "POST";
  req.url = url.value();
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  Params form = {{"grant_type", "client_credentials"}};
  if (!options_.scope.empty()) form.emplace_back("scope", options_.scope);
  std::optional<ClientError> sign_error;
  auto sign = [&](HttpRequest& r) {
    Params f = form;
    if (key != nullptr) {
      ClientResult<std::string> jwt =
          MakeClientAssertion(*key, options_.client_id, url.value(), transport_->clock().WallNow(),
                              options_.assertion_lifetime);
      if (!jwt.ok()) {
        sign_error = jwt.error();
        return;
      }
      f.emplace_back("client_assertion_type",
                     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      f.emplace_back("client_assertion", jwt.value());
    }
    r.body = EncodeParams(f);
  };
  if (key == nullptr) {
    // client_secret_basic (RFC 6749 §2.3.1): form-encode, then Base64.
    req.headers.emplace_back("Authorization",
                             "Basic " + Base64(PercentEncode(options_.client_id) + ":" +
                                               PercentEncode(options_.client_secret)));
  }
  sign(req);
  if (sign_error) return *sign_error;
  // Each attempt carries a fresh one-time assertion (a repeated jti is rejected as a replay).
  ClientResult<HttpResponse> resp = transport_->Execute(req, RequestKind::kIdempotentWrite, sign);
  if (sign_error) return *sign_error;
  if (!resp.ok()) {
    ClientError e = resp.error();
    e.message = "token request to " + url.value() + " failed: " + e.message;
    return e;
  }
  rapidjson::Document doc;
  const bool parsed =
      json::ParseDocument(resp->body, json::kNetworkMaxDepth, &doc) == json::ParseFailure::kNone;
  if (resp->status != 200) {
    ClientError e = ClientError::Make(
        ClientError::Kind::kAuth,
        "token endpoint " + url.value() + " answered HTTP " + std::to_string(resp->status));
    e.http_status = resp->status;
    e.attempts = resp->attempts;
    if (parsed && doc.IsObject()) {
      std::string_view err = json::StrMember(doc, "error");
      std::string_view desc = json::StrMember(doc, "error_description");
      if (!err.empty()) e.message += ": " + RedactSecrets(err);
      if (!desc.empty()) e.message += " (" + RedactSecrets(desc) + ")";
    }
    return e;
  }
  if (!parsed || !doc.IsObject()) {
    return ClientError::Make(ClientError::Kind::kAuth,
                             "token endpoint " + url.value() + " answered non-JSON");
  }
  std::string_view token = json::StrMember(doc, "access_token");
  std::string_view type = json::StrMember(doc, "token_type");
  if (token.empty()) {
    return ClientError::Make(ClientError::Kind::kAuth,
                             "token response from " + url.value() + " has no access_token");
  }
  std::string lower_type(type);
  for (char& c : lower_type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower_type != "bearer") {
    return ClientError::Make(ClientError::Kind::kAuth, "token response from " + url.value() +
                                                           " has token_type '" + std::string(type) +
                                                           "', not bearer");
  }
  int64_t expires_in = 300;  // SMART recommends 300 when unspecified
  if (const rapidjson::Value* v = json::Member(doc, "expires_in")) {
    if (v->IsInt64()) expires_in = v->GetInt64();
    if (v->IsString()) expires_in = std::strtoll(v->GetString(), nullptr, 10);
  }
  if (expires_in < 1) expires_in = 1;
  // A lifetime past a day is renewed after a day: larger values overflow the clock arithmetic
  // below (found by fuzz_fhir_response: expires_in 9223372036854775807).
  if (expires_in > kMaxTokenLifetimeSeconds) expires_in = kMaxTokenLifetimeSeconds;
  *lifetime = std::chrono::seconds(expires_in);
  *scope = std::string(json::StrMember(doc, "scope"));
  return std::string(token);
}

}  // namespace fhir::client
