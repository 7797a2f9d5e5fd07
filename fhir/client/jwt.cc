#include "fhir/client/jwt.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/http_transport.h"

namespace fhir::client {
namespace {

EVP_PKEY* Key(const std::shared_ptr<void>& p) { return static_cast<EVP_PKEY*>(p.get()); }

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string_view JwsAlgName(JwsAlg alg) { return alg == JwsAlg::kRS384 ? "RS384" : "ES384"; }

std::string Base64UrlEncode(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  auto b = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = b(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string Base64UrlDecode(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = val(c);
    if (v < 0) return "";
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string EcdsaDerToJose(std::string_view der, size_t half) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr) return "";
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string out(2 * half, '\0');
  bool ok = BN_num_bytes(r) <= static_cast<int>(half) &&
            BN_num_bytes(s) <= static_cast<int>(half) &&
            BN_bn2binpad(r, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(half)) ==
                static_cast<int>(half) &&
            BN_bn2binpad(s, reinterpret_cast<unsigned char*>(out.data() + half),
                         static_cast<int>(half)) == static_cast<int>(half);
  ECDSA_SIG_free(sig);
  return ok ? out : "";
}

ClientResult<SigningKey> SigningKey::FromPemFile(const std::string& path, JwsAlg alg,
                                                 std::string kid) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return ClientError::Make(ClientError::Kind::kAuth, "cannot read private key file " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return FromPem(ss.str(), alg, std::move(kid), "private key file " + path);
}

ClientResult<SigningKey> SigningKey::FromPem(std::string_view pem, JwsAlg alg, std::string kid,
                                             std::string_view what) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) {
    ERR_clear_error();
    return ClientError::Make(ClientError::Kind::kAuth,
                             std::string(what) +
                                 ": not a PEM private key (unencrypted PKCS#8 or "
                                 "traditional RSA/EC)");
  }
  SigningKey key;
  key.pkey_ =
      std::shared_ptr<void>(pkey, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
  key.alg_ = alg;
  key.kid_ = std::move(kid);
  if (alg == JwsAlg::kRS384) {
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey) < 2048) {
      return ClientError::Make(
          ClientError::Kind::kAuth,
          std::string(what) + ": RS384 needs an RSA key of at least 2048 bits");
    }
  } else {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1 ||
        std::string_view(group) != "secp384r1") {
      ERR_clear_error();
      return ClientError::Make(ClientError::Kind::kAuth,
                               std::string(what) + ": ES384 needs an EC key on curve P-384");
    }
  }
  return key;
}

ClientResult<std::string> SigningKey::Sign(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, Key(pkey_)) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    return ClientError::Make(ClientError::Kind::kAuth,
                             "signing with key " + kid_ + " failed: " + OpenSslError());
  }
  if (alg_ == JwsAlg::kES384) {
    std::string jose = EcdsaDerToJose(sig, 48);
    if (jose.empty()) {
      return ClientError::Make(ClientError::Kind::kAuth, "ES384 signature did not convert");
    }
    return jose;
  }
  return sig;
}

std::string SigningKey::PublicKeyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (PEM_write_bio_PUBKEY(bio, Key(pkey_)) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  return out;
}

ClientResult<std::string> MakeClientAssertion(const SigningKey& key, std::string_view client_id,
                                              std::string_view token_url,
                                              std::chrono::system_clock::time_point now,
                                              std::chrono::seconds lifetime) {
  if (lifetime > std::chrono::seconds(300)) lifetime = std::chrono::seconds(300);
  if (lifetime < std::chrono::seconds(1)) lifetime = std::chrono::seconds(1);
  int64_t iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();

  rapidjson::StringBuffer header;
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(header);
    w.StartObject();
    w.Key("alg");
    w.String(JwsAlgName(key.alg()).data(), static_cast<rapidjson::SizeType>(5));
    w.Key("kid");
    w.String(key.kid());
    w.Key("typ");
    w.String("JWT");
    w.EndObject();
  }
  rapidjson::StringBuffer claims;
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(claims);
    w.StartObject();
    w.Key("iss");
    w.String(client_id.data(), static_cast<rapidjson::SizeType>(client_id.size()));
    w.Key("sub");
    w.String(client_id.data(), static_cast<rapidjson::SizeType>(client_id.size()));
    w.Key("aud");
    w.String(token_url.data(), static_cast<rapidjson::SizeType>(token_url.size()));
    w.Key("iat");
    w.Int64(iat);
    w.Key("exp");
    w.Int64(iat + lifetime.count());
    w.Key("jti");
    w.String(RandomHexId());
    w.EndObject();
  }
  std::string signing_input =
      Base64UrlEncode(std::string_view(header.GetString(), header.GetSize())) + "." +
      Base64UrlEncode(std::string_view(claims.GetString(), claims.GetSize()));
  ClientResult<std::string> sig = key.Sign(signing_input);
  if (!sig.ok()) return sig.error();
  return signing_input + "." + Base64UrlEncode(sig.value());
}

}  // namespace fhir::client
