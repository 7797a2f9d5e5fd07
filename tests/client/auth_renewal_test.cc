// OAuthTokenProvider's renew-ahead margin for short-lived tokens, on the fake clock: found by
// the paged job of token_auth_integration_test.cc, whose 2 s tokens were used to the last
// millisecond (the margin was computed in whole seconds, so 2 s / 5 became 0) and counted from
// the answer's arrival rather than the request.
#include <gtest/gtest.h>

#include "fhir/client/auth.h"
#include "tests/client/fakes.h"
#include "tests/client/key_util.h"

namespace fhir::client {
namespace {

using std::chrono::milliseconds;
using testing::RetryRig;
using testing::ScriptedTransport;

HttpResponse Token(const std::string& token, int expires_in) {
  return ScriptedTransport::Status(
      200, "{\"access_token\":\"" + token +
               "\",\"token_type\":\"Bearer\",\"expires_in\":" + std::to_string(expires_in) + "}");
}

OAuthOptions Options() {
  OAuthOptions o;
  o.token_url = "https://auth.test/token";
  o.client_id = "cid";
  o.keys.push_back(
      SigningKey::FromPem(testing::GeneratePrivateKeyPem(JwsAlg::kES384), JwsAlg::kES384, "k1")
          .value());
  return o;
}

TEST(OAuthRenewalTest, ATwoSecondTokenIsRenewedAFifthOfItsLifetimeAhead) {
  RetryRig rig;
  rig.transport->script = {Token("t1", 2), Token("t2", 2)};
  OAuthTokenProvider auth(Options(), rig.retrying);
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");
  rig.clock->Advance(milliseconds(1500));
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");
  rig.clock->Advance(milliseconds(150));  // 1.65 s: inside the 400 ms margin
  EXPECT_EQ(auth.Authorization().value(), "Bearer t2");
  EXPECT_EQ(auth.renewals(), 2u);
}

TEST(OAuthRenewalTest, LifetimeCountsFromWhenTheTokenWasRequested) {
  RetryRig rig;
  int calls = 0;
  rig.transport->handler = [&](const HttpRequest&) -> ClientResult<HttpResponse> {
    rig.clock->Advance(milliseconds(500));  // the token endpoint takes 0.5 s to answer
    return Token("t" + std::to_string(++calls), 10);
  };
  OAuthTokenProvider auth(Options(), rig.retrying);
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");  // requested at 0, arrived at 0.5 s
  rig.clock->Advance(milliseconds(7400));                // 7.9 s after the request
  EXPECT_EQ(auth.Authorization().value(), "Bearer t1");
  rig.clock->Advance(milliseconds(200));  // 8.1 s: past 10 s - 2 s, though 7.6 s after arrival
  EXPECT_EQ(auth.Authorization().value(), "Bearer t2");
}

}  // namespace
}  // namespace fhir::client
