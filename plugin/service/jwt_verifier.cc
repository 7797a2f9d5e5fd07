#include "plugin/service/jwt_verifier.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fstream>
#include <sstream>

#include "fhir/client/jwt.h"

namespace sdoh::service {

using fhir::client::Base64UrlDecode;
using fhir::client::Base64UrlEncode;

struct JwtVerifier::Key {
  EVP_PKEY* pkey = nullptr;
  bool rsa = false;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

std::string Str(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

BIGNUM* Bn(const std::string& b64) {
  std::string bytes = Base64UrlDecode(b64);
  if (bytes.empty()) return nullptr;
  return BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                   static_cast<int>(bytes.size()), nullptr);
}

EVP_PKEY* FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

EVP_PKEY* RsaKey(const std::string& n64, const std::string& e64) {
  BIGNUM* n = Bn(n64);
  BIGNUM* e = Bn(e64);
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (n && e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1) {
    pkey = FromParams("RSA", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  if (pkey && EVP_PKEY_get_bits(pkey) < 2048) {
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  return pkey;
}

EVP_PKEY* EcKey(const std::string& x64, const std::string& y64) {
  std::string x = Base64UrlDecode(x64);
  std::string y = Base64UrlDecode(y64);
  if (x.size() != 48 || y.size() != 48) return nullptr;
  std::string point = "\x04" + x + y;
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-384", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ==
          1) {
    pkey = FromParams("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

// JOSE R‖S (96 bytes for P-384) → DER ECDSA-Sig-Value, as OpenSSL verifies it.
std::string JoseToDer(const std::string& sig) {
  if (sig.size() != 96) return {};
  ECDSA_SIG* es = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 48, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 48, 48, nullptr);
  std::string der;
  if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
    r = s = nullptr;  // owned by es
    unsigned char* out = nullptr;
    int len = i2d_ECDSA_SIG(es, &out);
    if (len > 0) der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
    OPENSSL_free(out);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(es);
  return der;
}

bool VerifySignature(EVP_PKEY* pkey, std::string_view data, const std::string& sig) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = md && EVP_DigestVerifyInit(md, nullptr, EVP_sha384(), nullptr, pkey) == 1 &&
            EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

JwtRejection Reject(std::string reason, std::string message) {
  return JwtRejection{std::move(reason), std::move(message)};
}

}  // namespace

JwtVerifier::~JwtVerifier() = default;

fhir::Result<std::shared_ptr<JwtVerifier>> JwtVerifier::FromJwksFile(const std::string& path,
                                                                     JwtPolicy policy) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fhir::Status::IoError(path + ": cannot read the JWKS file");
  std::stringstream ss;
  ss << in.rdbuf();
  return FromJwks(ss.str(), std::move(policy), path);
}

fhir::Result<std::shared_ptr<JwtVerifier>> JwtVerifier::FromJwks(std::string_view json,
                                                                 JwtPolicy policy,
                                                                 std::string_view what) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("keys") || !doc["keys"].IsArray()) {
    return fhir::Status::ParseError(std::string(what) +
                                    ": expected a JWKS object {\"keys\": [...]}");
  }
  std::shared_ptr<JwtVerifier> v(new JwtVerifier());
  v->policy_ = std::move(policy);
  size_t index = 0;
  for (const auto& k : doc["keys"].GetArray()) {
    std::string where = std::string(what) + ": keys[" + std::to_string(index++) + "]";
    if (!k.IsObject()) return fhir::Status::ParseError(where + ": expected an object");
    std::string kid = Str(k, "kid");
    std::string kty = Str(k, "kty");
    if (kid.empty()) return fhir::Status::ParseError(where + ": `kid` is required");
    auto key = std::make_shared<Key>();
    if (kty == "RSA") {
      key->rsa = true;
      key->pkey = RsaKey(Str(k, "n"), Str(k, "e"));
    } else if (kty == "EC") {
      if (Str(k, "crv") != "P-384") continue;  // only ES384 is accepted
      key->pkey = EcKey(Str(k, "x"), Str(k, "y"));
    } else {
      continue;  // oct (HMAC) and others are never used
    }
    if (!key->pkey) {
      return fhir::Status::ParseError(where + " (kid " + kid +
                                      "): not a usable RSA ≥ 2048 or EC P-384 public key");
    }
    v->keys_[kid] = std::move(key);
  }
  return v;
}

std::optional<JwtRejection> JwtVerifier::Verify(std::string_view token, std::string_view audience,
                                                int64_t now_seconds) {
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return Reject("malformed", "not a JWS compact token");
  }
  std::string header_json = Base64UrlDecode(token.substr(0, d1));
  std::string claims_json = Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1));
  std::string sig = Base64UrlDecode(token.substr(d2 + 1));
  rapidjson::Document header, claims;
  header.Parse(header_json.c_str());
  claims.Parse(claims_json.c_str());
  if (header.HasParseError() || !header.IsObject() || claims.HasParseError() ||
      !claims.IsObject()) {
    return Reject("malformed", "header or claims are not JSON objects");
  }
  std::string alg = Str(header, "alg");
  if (alg != "RS384" && alg != "ES384") {
    return Reject("alg", "alg `" + alg + "` is not accepted (RS384 or ES384 only)");
  }
  auto key_it = keys_.find(Str(header, "kid"));
  if (key_it == keys_.end()) return Reject("kid", "unknown kid");
  const Key& key = *key_it->second;
  if (key.rsa != (alg == "RS384")) return Reject("alg", "alg does not fit the key type");
  std::string der_or_raw = key.rsa ? sig : JoseToDer(sig);
  if (der_or_raw.empty() || !VerifySignature(key.pkey, token.substr(0, d2), der_or_raw)) {
    return Reject("signature", "signature does not verify");
  }
  std::string iss = Str(claims, "iss");
  bool iss_ok = false;
  for (const auto& a : policy_.allowed_issuers) iss_ok = iss_ok || (a == iss);
  if (!iss_ok) return Reject("iss", "issuer is not on the allow-list");
  bool aud_ok = false;
  if (claims.HasMember("aud") && claims["aud"].IsString()) {
    aud_ok = Str(claims, "aud") == audience;
  } else if (claims.HasMember("aud") && claims["aud"].IsArray()) {
    for (const auto& a : claims["aud"].GetArray()) {
      aud_ok = aud_ok || (a.IsString() && std::string_view(a.GetString()) == audience);
    }
  }
  if (!aud_ok) return Reject("aud", "aud is not this service's URL");
  if (!claims.HasMember("exp") || !claims["exp"].IsInt64()) return Reject("exp", "exp missing");
  int64_t exp = claims["exp"].GetInt64();
  if (exp + policy_.leeway_seconds < now_seconds) return Reject("exp", "token expired");
  if (exp - now_seconds > policy_.max_lifetime_seconds + policy_.leeway_seconds) {
    return Reject("exp", "token lifetime too long");
  }
  // RFC 7519 §4.1.5 / §4.1.6 (issue 13 #13): not valid before `nbf`; an `iat` in the future
  // (beyond the leeway) is a clock or forgery problem, not a token to honour.
  for (const char* name : {"nbf", "iat"}) {
    auto it = claims.FindMember(name);
    if (it == claims.MemberEnd()) continue;
    if (!it->value.IsInt64()) return Reject(name, std::string(name) + " is not a NumericDate");
    if (it->value.GetInt64() - policy_.leeway_seconds > now_seconds) {
      return Reject(name, std::string(name) + " is in the future");
    }
  }
  // RFC 7515 §4.1.11: a `crit` header names extensions the recipient must understand; this
  // verifier understands none, so any `crit` makes the token invalid.
  if (header.HasMember("crit")) return Reject("crit", "crit header names unsupported extensions");
  std::string jti = Str(claims, "jti");
  if (jti.empty()) return Reject("jti", "jti missing");
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = seen_jti_.begin(); it != seen_jti_.end();) {
    it = it->second + policy_.leeway_seconds < now_seconds ? seen_jti_.erase(it) : std::next(it);
  }
  if (!seen_jti_.emplace(iss + "\n" + jti, exp).second) return Reject("jti", "jti replayed");
  return std::nullopt;
}

fhir::Result<std::string> PublicJwkFromPem(std::string_view pem, std::string_view kid,
                                           std::string_view alg) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  if (!pkey) {
    BIO_free(bio);
    bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  }
  BIO_free(bio);
  if (!pkey) return fhir::Status::ParseError("not a PEM key");
  auto bn_b64 = [&](const char* name, int pad) {
    BIGNUM* bn = nullptr;
    std::string out;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) == 1) {
      int len = pad > 0 ? pad : BN_num_bytes(bn);
      std::string bytes(static_cast<size_t>(len), '\0');
      BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), len);
      out = Base64UrlEncode(bytes);
    }
    BN_free(bn);
    return out;
  };
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    w.Key("kty");
    w.String("RSA");
    w.Key("n");
    w.String(bn_b64(OSSL_PKEY_PARAM_RSA_N, 0).c_str());
    w.Key("e");
    w.String(bn_b64(OSSL_PKEY_PARAM_RSA_E, 0).c_str());
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    w.Key("kty");
    w.String("EC");
    w.Key("crv");
    w.String("P-384");
    w.Key("x");
    w.String(bn_b64(OSSL_PKEY_PARAM_EC_PUB_X, 48).c_str());
    w.Key("y");
    w.String(bn_b64(OSSL_PKEY_PARAM_EC_PUB_Y, 48).c_str());
  } else {
    EVP_PKEY_free(pkey);
    return fhir::Status::InvalidArgument("only RSA and EC keys have a JWK here");
  }
  w.Key("kid");
  w.String(kid.data(), static_cast<rapidjson::SizeType>(kid.size()));
  w.Key("alg");
  w.String(alg.data(), static_cast<rapidjson::SizeType>(alg.size()));
  w.Key("use");
  w.String("sig");
  w.EndObject();
  EVP_PKEY_free(pkey);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace sdoh::service
