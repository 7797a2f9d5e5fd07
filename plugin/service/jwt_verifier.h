// Verifies the EHR's CDS Hooks JWT (sdoh-codes.md §9 "Client → service auth"): RS384 or ES384
// only (alg none and HMAC are rejected), the key chosen by `kid` from a JWKS file, `iss` on an
// allow-list, `aud` equal to the called service URL, `exp` in the future, `nbf` and `iat` not
// in the future (beyond the leeway), no `crit` header (no extension is understood), and each
// `jti` used once (replay cache until the token's exp). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/status.h"

namespace sdoh::service {

struct JwtPolicy {
  std::vector<std::string> allowed_issuers;  // empty: every issuer is rejected
  int64_t leeway_seconds = 30;               // clock skew allowed on exp / nbf / iat
  int64_t max_lifetime_seconds = 3600;       // tokens valid for longer than this are refused
};

// Why a token was refused: a short machine reason (metrics label) and a readable message.
struct JwtRejection {
  // malformed | alg | kid | signature | iss | aud | exp | nbf | iat | crit | jti
  std::string reason;
  std::string message;
};

class JwtVerifier {
 public:
  // Reads a JWKS (RFC 7517) file: RSA keys (n, e) and EC P-384 keys (x, y), each with a `kid`.
  // Keys of other types are skipped. Errors name the file and the key index.
  static fhir::Result<std::shared_ptr<JwtVerifier>> FromJwksFile(const std::string& path,
                                                                 JwtPolicy policy);
  static fhir::Result<std::shared_ptr<JwtVerifier>> FromJwks(std::string_view json,
                                                             JwtPolicy policy,
                                                             std::string_view what = "jwks");
  ~JwtVerifier();

  // nullopt when `token` is acceptable for `audience` at `now_seconds` (Unix time); the jti is
  // then remembered.
  std::optional<JwtRejection> Verify(std::string_view token, std::string_view audience,
                                     int64_t now_seconds);

 private:
  struct Key;
  JwtVerifier() = default;
  JwtPolicy policy_;
  std::map<std::string, std::shared_ptr<Key>> keys_;  // by kid
  std::mutex mu_;
  std::map<std::string, int64_t> seen_jti_;  // jti → exp
};

// A public JWK (JSON object) for the public half of a PEM key — RSA → {kty RSA, n, e},
// EC P-384 → {kty EC, crv P-384, x, y} — with kid and alg. For operators and tests.
fhir::Result<std::string> PublicJwkFromPem(std::string_view pem, std::string_view kid,
                                           std::string_view alg);

}  // namespace sdoh::service
