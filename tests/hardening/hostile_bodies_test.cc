// Regression tests for the fuzz findings of issue 7 (inputs kept in tests/fuzz/corpus/):
//  - JSON nested deeper than the stack can recurse, in a FHIR server's answer
//    (fhir_response/hostile-deep-nesting), a CDS Hooks or feedback body
//    (http_request/post-deep-nesting, post-feedback-deep-nesting) and a notification: a
//    recursive-descent parse overflowed the stack. Now a typed error / 400, no crash;
//  - a token response with expires_in 9223372036854775807 (fhir_response/hostile-2,-3): signed
//    overflow in the renewal arithmetic. Now clamped to a day;
//  - the number 0e92 (fhir_response/ and cds_request/finding-zero-exponent-number): RapidJSON
//    1.1's full-precision strtod calls __builtin_clzll(0). Network bodies parse without it;
//  - a JWT whose alg holds a byte that is not UTF-8 (http_request/finding-401-body-not-utf8):
//    the 401 body echoed it and was not valid JSON. Non-ASCII bytes become '?'.
// The sanitizer build (ASan + UBSan, no recovery) runs these too, so UB fails them there.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fhir/client/auth.h"
#include "fhir/client/fhir_client.h"
#include "fhir/json.h"
#include "plugin/service/cds_hooks.h"
#include "plugin/service/notification.h"
#include "plugin/service/service_app.h"
#include "plugin/setup/pipeline.h"
#include "tests/client/fakes.h"
#include "tests/fuzz/test_jwks.h"

namespace sdoh::hardening {
namespace {

using fhir::client::ClientError;
using fhir::client::ClientResult;
using fhir::client::FhirClient;
using fhir::client::FhirClientOptions;
using fhir::client::HttpRequest;
using fhir::client::HttpResponse;
using fhir::client::OAuthOptions;
using fhir::client::OAuthTokenProvider;
using fhir::client::testing::RetryRig;
using fhir::client::testing::ScriptedTransport;

const std::string kDeep = std::string(1u << 20, '[');  // 1 Mi levels, as the corpus inputs

TEST(ParseDocumentTest, LimitsDepthWithoutRecursion) {
  rapidjson::Document doc;
  std::string error;
  EXPECT_EQ(fhir::json::ParseDocument(kDeep, fhir::json::kNetworkMaxDepth, &doc, &error),
            fhir::json::ParseFailure::kTooDeep);
  EXPECT_NE(error.find("deeper than 256"), std::string::npos) << error;
  const std::string ok = std::string(256, '[') + std::string(256, ']');
  EXPECT_EQ(fhir::json::ParseDocument(ok, 256, &doc), fhir::json::ParseFailure::kNone);
  EXPECT_EQ(fhir::json::ParseDocument(std::string(257, '[') + std::string(257, ']'), 256, &doc),
            fhir::json::ParseFailure::kTooDeep);
  EXPECT_EQ(fhir::json::ParseDocument("{\"a\":\"\xff\"}", 8, &doc),
            fhir::json::ParseFailure::kInvalidUtf8);
  EXPECT_EQ(fhir::json::ParseDocument("{\"a\":", 8, &doc), fhir::json::ParseFailure::kMalformed);
  ASSERT_EQ(fhir::json::ParseDocument(R"({"n":0.10000000000000000000001,"s":"x"})", 8, &doc),
            fhir::json::ParseFailure::kNone);
  EXPECT_EQ(fhir::json::StrMember(doc, "s"), "x");
}

TEST(ParseDocumentTest, ZeroWithAHugeExponentIsZero) {
  rapidjson::Document doc;
  ASSERT_EQ(fhir::json::ParseDocument(R"({"total":0e92,"v":0.0e-400,"w":00})", 8, &doc),
            fhir::json::ParseFailure::kMalformed);  // 00 is not JSON
  ASSERT_EQ(fhir::json::ParseDocument(R"({"total":0e92,"v":0.0e-400})", 8, &doc),
            fhir::json::ParseFailure::kNone);
  EXPECT_EQ(doc["total"].GetDouble(), 0.0);
  EXPECT_EQ(doc["v"].GetDouble(), 0.0);
}

TEST(HostileServerAnswerTest, DeeplyNestedSearchPageIsAMalformedResponseError) {
  RetryRig rig;
  FhirClientOptions o;
  o.base_url = "http://fhir.test/fhir";
  FhirClient client(o, rig.retrying, nullptr);
  const std::string page = R"({"resourceType":"Bundle","type":"searchset","entry":)" + kDeep;
  rig.transport->handler = [&](const HttpRequest&) -> ClientResult<HttpResponse> {
    return ScriptedTransport::Status(200, page);
  };
  fhir::client::SearchPager pager = client.Pages("Patient", {{"_count", "100"}});
  ClientResult<bool> first = pager.Next();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().kind, ClientError::Kind::kMalformedResponse);
  EXPECT_NE(first.error().message.find("nesting deeper than 256"), std::string::npos)
      << first.error().message;
  // An error answer nested as deep is still an HTTP error (its body is just not read).
  rig.transport->handler = [&](const HttpRequest&) -> ClientResult<HttpResponse> {
    return ScriptedTransport::Status(412, kDeep);
  };
  ClientResult<fhir::client::Response> update =
      client.Update("Flag", "1", R"({"resourceType":"Flag","id":"1"})", "W/\"1\"");
  ASSERT_FALSE(update.ok());
  EXPECT_EQ(update.error().kind, ClientError::Kind::kHttp);
  EXPECT_EQ(update.error().http_status, 412);
  EXPECT_TRUE(update.error().issues.empty());
}

std::shared_ptr<OAuthTokenProvider> TokenProvider(RetryRig& rig, const std::string& answer) {
  rig.transport->handler = [answer](const HttpRequest&) -> ClientResult<HttpResponse> {
    return ScriptedTransport::Status(200, answer);
  };
  OAuthOptions o;
  o.token_url = "http://fhir.test/token";
  o.client_id = "sdoh-bridge";
  o.client_secret = "not-a-secret";
  return std::make_shared<OAuthTokenProvider>(o, rig.retrying);
}

TEST(HostileTokenResponseTest, HugeExpiresInIsClampedNotOverflowed) {
  for (const std::string expires :
       {"9223372036854775807", "\"99999999999999999999\"", "\"9223372036854775807\"", "1e300"}) {
    RetryRig rig;
    auto auth = TokenProvider(
        rig, R"({"access_token":"tok","token_type":"bearer","expires_in":)" + expires + "}");
    ClientResult<std::string> a = auth->Authorization();
    ASSERT_TRUE(a.ok()) << expires << ": " << a.error().ToString();
    EXPECT_EQ(a.value(), "Bearer tok");
    // Cached (not renewed at once), and renewed after a day at the latest.
    ASSERT_TRUE(auth->Authorization().ok());
    EXPECT_EQ(auth->renewals(), 1u) << expires;
    rig.clock->Advance(std::chrono::hours(25));
    ASSERT_TRUE(auth->Authorization().ok());
    EXPECT_EQ(auth->renewals(), 2u) << expires;
  }
}

TEST(HostileTokenResponseTest, DeeplyNestedTokenResponseIsAnAuthError) {
  RetryRig rig;
  auto auth = TokenProvider(rig, R"({"access_token":"tok","x":)" + kDeep);
  ClientResult<std::string> a = auth->Authorization();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().kind, ClientError::Kind::kAuth);
}

TEST(HostileServiceBodyTest, DeeplyNestedCdsAndFeedbackBodiesAre400) {
  auto pipeline = sdoh::LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().message();
  const std::string nested_prefetch =
      R"({"hook":"patient-view","hookInstance":"x","context":{"patientId":"p1"},)"
      R"("prefetch":{"patient":{"resourceType":"Patient","id":"p1","x":)" +
      kDeep;
  for (const std::string& body : {kDeep, nested_prefetch}) {
    sdoh::service::CdsResult r =
        sdoh::service::EvaluatePatientView(*pipeline, body, 1700000000LL * 1000000);
    EXPECT_EQ(r.status, 400);
    EXPECT_FALSE(sdoh::service::ParseFeedback(body, 100).ok());
    EXPECT_FALSE(sdoh::service::ParseNotification(body).ok());
  }
}

TEST(HostileServiceBodyTest, JwtRejectionEchoingNonUtf8BytesIsStillJson) {
  auto pipeline = sdoh::LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().message();
  sdoh::service::JwtPolicy policy;
  policy.allowed_issuers = {"https://ehr.test"};
  auto verifier = sdoh::service::JwtVerifier::FromJwks(sdoh::fuzz::Jwks(), policy);
  ASSERT_TRUE(verifier.ok());
  sdoh::service::ServiceSettings settings;
  settings.public_base_url = "https://sdoh.test";
  settings.verifier = *verifier;
  sdoh::service::ServiceApp app(std::make_shared<const sdoh::Pipeline>(std::move(*pipeline)),
                                settings);
  sdoh::service::HttpRequest req;
  req.method = "GET";
  req.target = "/cds-services";
  // {"alg":"RS5\xf84","kid":"rsa-1","typ":"JWT"} as the corpus input has it.
  req.authorization = "Bearer " +
                      fhir::client::Base64UrlEncode(
                          "{\"alg\":\"RS5\xf8"
                          "4\",\"kid\":\"rsa-1\",\"typ\":\"JWT\"}") +
                      ".eyJpc3MiOiJ4In0.c2ln";
  sdoh::service::HttpResponse r = app.Handle(req);
  EXPECT_EQ(r.status, 401);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(r.body.c_str(), r.body.size());
  EXPECT_FALSE(d.HasParseError()) << r.body;
}

}  // namespace
}  // namespace sdoh::hardening
