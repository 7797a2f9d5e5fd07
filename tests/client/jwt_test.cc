#include "fhir/client/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <rapidjson/document.h>

#include "tests/client/key_util.h"

namespace fhir::client {
namespace {

struct Parts {
  std::string header, claims, signature, signing_input;
};

Parts Split(const std::string& jwt) {
  size_t a = jwt.find('.');
  size_t b = jwt.find('.', a + 1);
  Parts p;
  p.header = Base64UrlDecode(jwt.substr(0, a));
  p.claims = Base64UrlDecode(jwt.substr(a + 1, b - a - 1));
  p.signature = Base64UrlDecode(jwt.substr(b + 1));
  p.signing_input = jwt.substr(0, b);
  return p;
}

// Verifies independently of SigningKey: public key from PEM, JOSE R‖S converted back to DER.
bool Verify(const std::string& public_pem, JwsAlg alg, const Parts& p) {
  BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* pub = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pub == nullptr) return false;
  std::string sig = p.signature;
  if (alg == JwsAlg::kES384) {
    if (sig.size() != 96) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 48, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data() + 48), 48, nullptr);
    ECDSA_SIG_set0(es, r, s);
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(es, &der);
    sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha384(), nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(p.signing_input.data()),
                             p.signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  return ok;
}

class JwtTest : public ::testing::TestWithParam<JwsAlg> {};

TEST_P(JwtTest, ClientAssertionVerifiesAndCarriesSmartClaims) {
  JwsAlg alg = GetParam();
  std::string pem = testing::GeneratePrivateKeyPem(alg);
  ClientResult<SigningKey> key = SigningKey::FromPem(pem, alg, "key-1");
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  ClientResult<std::string> jwt = MakeClientAssertion(
      key.value(), "my-client", "https://auth.example/token", now, std::chrono::seconds(900));
  ASSERT_TRUE(jwt.ok());
  Parts p = Split(jwt.value());
  EXPECT_TRUE(Verify(key->PublicKeyPem(), alg, p));
  EXPECT_EQ(p.signature.size(), alg == JwsAlg::kES384 ? 96u : 256u);

  rapidjson::Document header;
  header.Parse(p.header.c_str());
  EXPECT_EQ(std::string(header["alg"].GetString()), JwsAlgName(alg));
  EXPECT_EQ(std::string(header["kid"].GetString()), "key-1");
  EXPECT_EQ(std::string(header["typ"].GetString()), "JWT");
  rapidjson::Document claims;
  claims.Parse(p.claims.c_str());
  EXPECT_EQ(std::string(claims["iss"].GetString()), "my-client");
  EXPECT_EQ(std::string(claims["sub"].GetString()), "my-client");
  EXPECT_EQ(std::string(claims["aud"].GetString()), "https://auth.example/token");
  EXPECT_EQ(claims["exp"].GetInt64(), 1'700'000'000 + 300);  // clamped to 5 minutes
  EXPECT_EQ(std::string(claims["jti"].GetString()).size(), 32u);

  // A tampered payload does not verify.
  Parts bad = p;
  bad.signing_input[bad.signing_input.size() / 2] ^= 1;
  EXPECT_FALSE(Verify(key->PublicKeyPem(), alg, bad));

  // jti is unique per assertion.
  ClientResult<std::string> again = MakeClientAssertion(
      key.value(), "my-client", "https://auth.example/token", now, std::chrono::seconds(60));
  rapidjson::Document claims2;
  claims2.Parse(Split(again.value()).claims.c_str());
  EXPECT_NE(std::string(claims["jti"].GetString()), std::string(claims2["jti"].GetString()));
}

INSTANTIATE_TEST_SUITE_P(Algs, JwtTest, ::testing::Values(JwsAlg::kRS384, JwsAlg::kES384),
                         [](const auto& info) { return std::string(JwsAlgName(info.param)); });

TEST(JwtKeyTest, RejectsKeyNotFittingTheAlgorithm) {
  std::string rsa = testing::GeneratePrivateKeyPem(JwsAlg::kRS384);
  std::string ec = testing::GeneratePrivateKeyPem(JwsAlg::kES384);
  EXPECT_FALSE(SigningKey::FromPem(rsa, JwsAlg::kES384, "k").ok());
  EXPECT_FALSE(SigningKey::FromPem(ec, JwsAlg::kRS384, "k").ok());
  ClientResult<SigningKey> garbage =
      SigningKey::FromPem("not a key", JwsAlg::kRS384, "k", "file x");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("file x"), std::string::npos);
  EXPECT_FALSE(SigningKey::FromPemFile("/nonexistent/key.pem", JwsAlg::kRS384, "k").ok());
}

TEST(JwtKeyTest, DerToJosePadsShortIntegers) {
  ECDSA_SIG* es = ECDSA_SIG_new();
  BIGNUM* r = nullptr;
  BIGNUM* s = nullptr;
  BN_dec2bn(&r, "5");
  BN_dec2bn(&s, "258");
  ECDSA_SIG_set0(es, r, s);
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(es, &der);
  std::string jose = EcdsaDerToJose(std::string(reinterpret_cast<char*>(der), len), 48);
  OPENSSL_free(der);
  ECDSA_SIG_free(es);
  ASSERT_EQ(jose.size(), 96u);
  EXPECT_EQ(jose[47], 5);
  EXPECT_EQ(jose[94], 1);
  EXPECT_EQ(jose[95], 2);
  EXPECT_EQ(jose[0], 0);
  EXPECT_TRUE(EcdsaDerToJose("garbage", 48).empty());
}

TEST(Base64UrlTest, RoundTrips) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), s);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

}  // namespace
}  // namespace fhir::client
