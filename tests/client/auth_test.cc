#include "fhir/client/auth.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "fhir/client/url.h"
#include "tests/client/fakes.h"
#include "tests/client/key_util.h"

namespace fhir::client {
namespace {

using testing::RetryRig;
using testing::ScriptedTransport;

HttpResponse Token(const std::string& token, int expires_in) {
  return ScriptedTransport::Status(
      200, "{\"access_token\":\"" + token + "\",\"token_type\":\"Bearer\",\"expires_in\":" +
               std::to_string(expires_in) + ",\"scope\":\"system/Patient.rs\"}");
}

std::string FormValue(const std::string& body, const std::string& name) {
  for (const auto& [n, v] : DecodeParams(body)) {
    if (n == name) return v;
  }
  return "";
}

OAuthOptions JwtOptions() {
  OAuthOptions o;
  o.token_url = "https://auth.test/token";
  o.client_id = "cid";
  o.scope = "system/Patient.rs";
  o.keys.push_back(
      SigningKey::FromPem(testing::GeneratePrivateKeyPem(JwsAlg::kES384), JwsAlg::kES384, "k1")
          .value());
  return o;
}

TEST(OAuthTokenProviderTest, CachesTokenAndRenewsAheadOfExpiry) {
  RetryRig rig;
  rig.transport->script = {Token("t1", 300), Token("t2", 300)};
  OAuthTokenProvider auth(JwtOptions(), rig.retrying);
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");
  rig.clock->Advance(std::chrono::seconds(200));
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");
  EXPECT_EQ(rig.transport->requests.size(), 1u);
  rig.clock->Advance(std::chrono::seconds(41));  // 241 s: inside the 60 s renewal margin
  EXPECT_EQ(auth.Authorization().value(), "Bearer t2");
  EXPECT_EQ(auth.renewals(), 2u);
  EXPECT_EQ(auth.GrantedScope(), "system/Patient.rs");

  const HttpRequest& req = rig.transport->requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://auth.test/token");
  EXPECT_EQ(FormValue(req.body, "grant_type"), "client_credentials");
  EXPECT_EQ(FormValue(req.body, "client_assertion_type"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_FALSE(FormValue(req.body, "client_assertion").empty());
  EXPECT_TRUE(FindHeader(req.headers, "Authorization").empty());
}

TEST(OAuthTokenProviderTest, EveryTokenRequestAttemptSignsAFreshAssertion) {
  RetryRig rig;
  rig.transport->script = {ScriptedTransport::Status(503), Token("t1", 300)};
  OAuthTokenProvider auth(JwtOptions(), rig.retrying);
  ASSERT_TRUE(auth.Authorization().ok());
  ASSERT_EQ(rig.transport->requests.size(), 2u);
  EXPECT_NE(FormValue(rig.transport->requests[0].body, "client_assertion"),
            FormValue(rig.transport->requests[1].body, "client_assertion"));
}

TEST(OAuthTokenProviderTest, ClientSecretGoesInBasicHeaderAndNeverInErrors) {
  RetryRig rig;
  rig.transport->script = {ScriptedTransport::Status(
      401, "{\"error\":\"invalid_client\",\"error_description\":\"bad secret\"}")};
  OAuthOptions o;
  o.token_url = "https://auth.test/token";
  o.client_id = "cid";
  o.client_secret = "s3cr3t-value";
  OAuthTokenProvider auth(o, rig.retrying);
  ClientResult<std::string> a = auth.Authorization();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().kind, ClientError::Kind::kAuth);
  EXPECT_NE(a.error().message.find("invalid_client"), std::string::npos);
  EXPECT_EQ(a.error().ToString().find("s3cr3t"), std::string::npos);
  EXPECT_EQ(FindHeader(rig.transport->requests[0].headers, "Authorization"),
            "Basic Y2lkOnMzY3IzdC12YWx1ZQ==");
  EXPECT_EQ(FormValue(rig.transport->requests[0].body, "client_assertion"), "");
}

TEST(OAuthTokenProviderTest, OneRenewalAtATimeAcrossThreads) {
  RetryRig rig;
  std::atomic<int> token_calls{0};
  rig.transport->handler = [&](const HttpRequest&) -> ClientResult<HttpResponse> {
    ++token_calls;
    // Hold the renewal open long enough for the other threads to arrive and wait.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return Token("t" + std::to_string(token_calls.load()), 300);
  };
  OAuthTokenProvider auth(JwtOptions(), rig.retrying);
  std::vector<std::thread> threads;
  std::vector<std::string> got(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { got[i] = auth.Authorization().value(); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(token_calls.load(), 1);
  for (const std::string& g : got) EXPECT_EQ(g, "Bearer t1");
}

TEST(OAuthTokenProviderTest, UnauthorizedDropsTheTokenThatWasSent) {
  RetryRig rig;
  rig.transport->script = {Token("t1", 300), Token("t2", 300)};
  OAuthTokenProvider auth(JwtOptions(), rig.retrying);
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");
  EXPECT_TRUE(auth.OnUnauthorized("Bearer stale-other"));  // not ours: keep t1
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");
  EXPECT_TRUE(auth.OnUnauthorized("Bearer t1"));
  EXPECT_EQ(auth.Authorization().value(), "Bearer t2");
}

TEST(OAuthTokenProviderTest, KeyRotationSignsWithTheChosenKid) {
  RetryRig rig;
  rig.transport->script = {Token("t1", 300)};
  OAuthOptions o = JwtOptions();
  o.keys.push_back(
      SigningKey::FromPem(testing::GeneratePrivateKeyPem(JwsAlg::kRS384), JwsAlg::kRS384, "k2")
          .value());
  OAuthTokenProvider auth(o, rig.retrying);
  EXPECT_FALSE(auth.SetActiveKid("nope"));
  EXPECT_TRUE(auth.SetActiveKid("k2"));
  ASSERT_TRUE(auth.Authorization().ok());
  std::string jwt = FormValue(rig.transport->requests[0].body, "client_assertion");
  std::string header = Base64UrlDecode(jwt.substr(0, jwt.find('.')));
  EXPECT_NE(header.find("\"kid\":\"k2\""), std::string::npos);
  EXPECT_NE(header.find("\"alg\":\"RS384\""), std::string::npos);
}

TEST(BasicAuthTest, EncodesUserAndPassword) {
  EXPECT_EQ(BasicAuth("Aladdin", "open sesame").Authorization().value(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

}  // namespace
}  // namespace fhir::client
