// Pure parts of `serve` (label unit): --listen parsing, the `service:` YAML section, feedback
// bodies, and the JWKS loader's refusals.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "plugin/service/cds_hooks.h"
#include "plugin/service/jwt_verifier.h"
#include "plugin/service/serve_command.h"

namespace sdoh::service {
namespace {

TEST(ServeCommandTest, ParseListen) {
  HttpServerOptions o;
  ASSERT_TRUE(ParseListen("0.0.0.0:9000", &o).ok());
  EXPECT_EQ(o.host, "0.0.0.0");
  EXPECT_EQ(o.port, 9000);
  ASSERT_TRUE(ParseListen("[::1]:0", &o).ok());
  EXPECT_EQ(o.host, "::1");
  EXPECT_FALSE(ParseListen("localhost", &o).ok());
  EXPECT_FALSE(ParseListen("127.0.0.1:99999", &o).ok());
}

TEST(ServeCommandTest, ServiceConfigKeysAndUnknownKey) {
  std::string path = ::testing::TempDir() + "/service-config.yaml";
  {
    std::ofstream out(path);
    out << "service:\n  listen: 127.0.0.1:8181\n  public_base_url: https://x.test\n"
           "  allowed_issuers: [https://ehr.test]\n  jwks_file: /k.json\n  threads: 2\n"
           "  body_limit_bytes: 1000\n  read_timeout_seconds: 5\n  write_timeout_seconds: 6\n"
           "  no_auth: false\n  metrics_token_env: TOK\n  jwt_leeway_seconds: 10\n";
  }
  ServeOptions o;
  ASSERT_TRUE(LoadServiceConfig(path, &o).ok());
  EXPECT_EQ(o.http.port, 8181);
  EXPECT_EQ(o.public_base_url, "https://x.test");
  EXPECT_EQ(o.allowed_issuers, std::vector<std::string>{"https://ehr.test"});
  EXPECT_EQ(o.http.body_limit, 1000u);
  EXPECT_EQ(o.metrics_token_env, "TOK");
  {
    std::ofstream out(path);
    out << "service:\n  lisen: 127.0.0.1:8181\n";
  }
  fhir::Status s = LoadServiceConfig(path, &o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(":2: service.lisen: unknown key"), std::string::npos) << s.message();
  std::remove(path.c_str());
}

TEST(ServeCommandTest, HelpExitsZeroAndUnknownFlagIsUsageError) {
  EXPECT_EQ(RunServeCommand({"--help"}), 0);
  EXPECT_EQ(RunServeCommand({"--bogus"}), 2);
  EXPECT_EQ(RunServeCommand({"--listen"}), 2);
}

TEST(CdsHooksTest, FeedbackOutcomes) {
  auto ok = FeedbackOutcomes(R"({"feedback":[{"card":"a","outcome":"accepted"}]})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, std::vector<std::string>{"accepted"});
  EXPECT_FALSE(FeedbackOutcomes(R"({"feedback":[{"card":"a","outcome":"maybe"}]})").ok());
  EXPECT_FALSE(FeedbackOutcomes(R"({"feedback":[{"outcome":"accepted"}]})").ok());
  EXPECT_FALSE(FeedbackOutcomes("[]").ok());
}

TEST(JwtVerifierTest, JwksRefusals) {
  EXPECT_FALSE(JwtVerifier::FromJwks("[]", {}).ok());
  EXPECT_FALSE(JwtVerifier::FromJwks(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})", {})
                   .ok());  // no kid
  EXPECT_FALSE(
      JwtVerifier::FromJwks(R"({"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]})", {})
          .ok());  // too small
  // HMAC keys are never loaded, so no token can use one.
  auto v = JwtVerifier::FromJwks(R"({"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]})", {});
  ASSERT_TRUE(v.ok());
  auto r = (*v)->Verify("a.b.c", "aud", 0);
  ASSERT_TRUE(r.has_value());
}

}  // namespace
}  // namespace sdoh::service
