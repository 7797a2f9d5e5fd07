// JWS compact signing for SMART Backend Services client assertions (sdoh-codes.md §8):
// RS384 (RSASSA-PKCS1-v1_5 + SHA-384) and ES384 (ECDSA P-384 + SHA-384, signature as the
// 96-byte R‖S of RFC 7518 §3.4, not OpenSSL's DER). Keys come from PEM; never logged.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "fhir/client/client_error.h"

namespace fhir::client {

enum class JwsAlg { kRS384, kES384 };
std::string_view JwsAlgName(JwsAlg alg);

std::string Base64UrlEncode(std::string_view bytes);  // no padding
std::string Base64UrlDecode(std::string_view text);   // empty on invalid input

// ECDSA-Sig-Value (DER) → fixed-width R‖S, each left-padded to `half` bytes (48 for P-384).
// Empty when `der` does not parse or a value does not fit.
std::string EcdsaDerToJose(std::string_view der, size_t half);

// A private key with its kid and algorithm. Cheap to copy (shares the key). Thread-safe.
class SigningKey {
 public:
  // REQUIRES nothing; errors: unreadable file, not a private key, key type/curve not fitting alg
  // (RS384 needs RSA ≥ 2048 bits, ES384 needs EC P-384). The message names the file, not the key.
  static ClientResult<SigningKey> FromPemFile(const std::string& path, JwsAlg alg, std::string kid);
  static ClientResult<SigningKey> FromPem(std::string_view pem, JwsAlg alg, std::string kid,
                                          std::string_view what = "key");

  JwsAlg alg() const { return alg_; }
  const std::string& kid() const { return kid_; }
  // Raw JWS signature of `data` (PKCS#1 v1.5 bytes or the 96-byte R‖S).
  ClientResult<std::string> Sign(std::string_view data) const;
  // PEM of the public half (tests register it with a token endpoint).
  std::string PublicKeyPem() const;

 private:
  SigningKey() = default;
  std::shared_ptr<void> pkey_;  // EVP_PKEY*
  JwsAlg alg_ = JwsAlg::kRS384;
  std::string kid_;
};

// "header.claims.signature". Header {alg, kid, typ: "JWT"}; claims iss = sub = client_id,
// aud = token_url, iat = now, exp = now + lifetime (clamped to ≤ 300 s), jti = 128-bit random.
ClientResult<std::string> MakeClientAssertion(const SigningKey& key, std::string_view client_id,
                                              std::string_view token_url,
                                              std::chrono::system_clock::time_point now,
                                              std::chrono::seconds lifetime);

}  // namespace fhir::client
