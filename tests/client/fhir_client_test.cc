// FhirClient behaviour that needs a misbehaving server: tested with a scripted transport.
// (Behaviour against a real server: fhir_client_integration_test.cc.)
#include "fhir/client/fhir_client.h"

#include <gtest/gtest.h>

#include "fhir/client/redact.h"

#include "tests/client/fakes.h"

namespace fhir::client {
namespace {

using testing::RetryRig;
using testing::ScriptedTransport;

const char* kBase = "http://fhir.test/fhir";

std::string BundleWith(const std::string& self, const std::string& next) {
  std::string links = "[{\"relation\":\"self\",\"url\":\"" + self + "\"}";
  if (!next.empty()) links += ",{\"relation\":\"next\",\"url\":\"" + next + "\"}";
  links += "]";
  return "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"link\":" + links +
         ",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"1\"}}]}";
}

struct ClientRig : RetryRig {
  std::shared_ptr<FhirClient> client;
  explicit ClientRig(std::shared_ptr<AuthProvider> auth = nullptr, int max_pages = 100) {
    FhirClientOptions o;
    o.base_url = kBase;
    o.max_pages = max_pages;
    client = std::make_shared<FhirClient>(o, retrying, auth);
  }
};

TEST(FhirClientTest, BearerTokenOnlyGoesToTheConfiguredOrigin) {
  ClientRig rig(std::make_shared<BearerAuth>("tok"));
  rig.transport->handler = [](const HttpRequest&) -> ClientResult<HttpResponse> {
    return ScriptedTransport::Status(200, "{\"resourceType\":\"Patient\"}");
  };
  ASSERT_TRUE(rig.client->Read("Patient", "1").ok());
  ASSERT_TRUE(rig.client->Get("http://fhir.test:80/fhir/Patient/2").ok());
  ASSERT_TRUE(rig.client->Get("http://other.test/fhir/Patient/1").ok());
  ASSERT_TRUE(rig.client->Get("https://fhir.test/fhir/Patient/1").ok());
  ASSERT_TRUE(rig.client->Get("http://fhir.test:8080/fhir/Patient/1").ok());
  ASSERT_EQ(rig.transport->requests.size(), 5u);
  EXPECT_EQ(FindHeader(rig.transport->requests[0].headers, "Authorization"), "Bearer tok");
  EXPECT_EQ(FindHeader(rig.transport->requests[1].headers, "Authorization"), "Bearer tok");
  for (int i = 2; i < 5; ++i) {
    EXPECT_TRUE(FindHeader(rig.transport->requests[i].headers, "Authorization").empty()) << i;
  }
}

TEST(FhirClientTest, PagerRefusesNextLinkOnAnotherHostWithoutSendingAnything) {
  ClientRig rig(std::make_shared<BearerAuth>("tok"));
  rig.transport->script = {ScriptedTransport::Status(
      200, BundleWith(std::string(kBase) + "/Patient?_count=1",
                      "http://evil.test/fhir/Patient?_count=1&_offset=1"))};
  SearchPager pager = rig.client->Pages("Patient", {{"_count", "1"}});
  ASSERT_TRUE(pager.Next().value());
  ClientResult<bool> next = pager.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().kind, ClientError::Kind::kPaging);
  EXPECT_NE(next.error().message.find("evil.test"), std::string::npos);
  EXPECT_EQ(rig.transport->requests.size(), 1u);
}

TEST(FhirClientTest, PagerFollowsRelativeNextAndDetectsALoop) {
  ClientRig rig;
  rig.transport->script = {
      ScriptedTransport::Status(200, BundleWith("Patient?_count=1", "Patient?_count=1&_offset=1")),
      ScriptedTransport::Status(
          200, BundleWith("Patient?_count=1&_offset=1", "Patient?_count=1&_offset=2")),
      ScriptedTransport::Status(
          200, BundleWith("Patient?_count=1&_offset=2", "Patient?_count=1&_offset=1"))};
  SearchPager pager = rig.client->Pages("Patient", {{"_count", "1"}});
  ASSERT_TRUE(pager.Next().value());
  ASSERT_TRUE(pager.Next().value());
  EXPECT_EQ(rig.transport->requests[1].url, std::string(kBase) + "/Patient?_count=1&_offset=1");
  ClientResult<bool> third = pager.Next();
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().kind, ClientError::Kind::kPaging);
  EXPECT_NE(third.error().message.find("already visited"), std::string::npos);
}

TEST(FhirClientTest, PagerStopsWithAnErrorAtMaxPages) {
  ClientRig rig(nullptr, 2);
  rig.transport->handler = [](const HttpRequest& r) -> ClientResult<HttpResponse> {
    return ScriptedTransport::Status(200, BundleWith(r.url, r.url + "x"));
  };
  SearchPager pager = rig.client->Pages("Patient", {});
  ASSERT_TRUE(pager.Next().value());
  ASSERT_TRUE(pager.Next().value());
  ClientResult<bool> third = pager.Next();
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().kind, ClientError::Kind::kPaging);
  EXPECT_EQ(rig.transport->requests.size(), 2u);
}

TEST(FhirClientTest, SearchParameterMissingFromSelfLinkIsAnError) {
  ClientRig rig;
  rig.transport->script = {
      ScriptedTransport::Status(200, BundleWith(std::string(kBase) + "/Patient?name=x", ""))};
  ClientResult<Response> r =
      rig.client->Search("Patient", {{"name", "x"}, {"bogus-param", "1"}, {"_count", "5"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::kDroppedParameter);
  EXPECT_NE(r.error().message.find("bogus-param"), std::string::npos);
  EXPECT_EQ(FindHeader(rig.transport->requests[0].headers, "Prefer"), "handling=strict");
}

TEST(FhirClientTest, PostSearchSendsAFormBody) {
  ClientRig rig;
  rig.transport->script = {ScriptedTransport::Status(
      200, BundleWith(std::string(kBase) + "/Patient?identifier=a%7Cb", ""))};
  ASSERT_TRUE(rig.client->Search("Patient", {{"identifier", "a|b"}}, SearchVia::kPost).ok());
  const HttpRequest& req = rig.transport->requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, std::string(kBase) + "/Patient/_search");
  EXPECT_EQ(req.body, "identifier=a%7Cb");
  EXPECT_EQ(FindHeader(req.headers, "Content-Type"), "application/x-www-form-urlencoded");
}

TEST(FhirClientTest, OperationOutcomeBecomesATypedError) {
  ClientRig rig;
  rig.transport->script = {ScriptedTransport::Status(
      412,
      "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":"
      "\"conflict\",\"diagnostics\":\"version mismatch\"}]}")};
  ClientResult<Response> r = rig.client->Update("Patient", "1", "{}", "3");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::kHttp);
  EXPECT_EQ(r.error().http_status, 412);
  ASSERT_EQ(r.error().issues.size(), 1u);
  EXPECT_EQ(r.error().issues[0].severity, "error");
  EXPECT_EQ(r.error().issues[0].code, "conflict");
  EXPECT_EQ(r.error().issues[0].diagnostics, "version mismatch");
  EXPECT_EQ(FindHeader(rig.transport->requests[0].headers, "If-Match"), "W/\"3\"");
}

// Issue 13 #13: a server error that echoes the request's Authorization header must not put
// the token into any message the client builds (ToString, ToStatus, the issues).
TEST(FhirClientTest, EchoedBearerTokenIsRedactedInEveryErrorMessage) {
  const std::string token = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
  ClientRig rig(std::make_shared<BearerAuth>(token));
  rig.transport->script = {ScriptedTransport::Status(
      400,
      "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":"
      "\"security\",\"diagnostics\":\"bad request; headers: Authorization: Bearer " +
          token +
          ", X-Id: 1\"},{\"severity\":\"error\",\"code\":\"invalid\",\"details\":{"
          "\"text\":\"token bearer " +
          token + " unknown; access_token=" + token + "\"}}]}")};
  ClientResult<Response> r = rig.client->Read("Patient", "1");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().issues.size(), 2u);
  for (const std::string& text :
       {r.error().ToString(), r.error().ToStatus().message(), r.error().issues[0].diagnostics,
        r.error().issues[1].diagnostics}) {
    EXPECT_EQ(text.find(token), std::string::npos) << text;
    EXPECT_EQ(text.find("c2lnbmF0dXJl"), std::string::npos) << text;
    EXPECT_NE(text.find("[redacted]"), std::string::npos) << text;
  }
  EXPECT_NE(r.error().ToString().find("X-Id: 1"), std::string::npos) << r.error().ToString();
}

TEST(RedactSecretsTest, TokensAndAuthorizationValuesGoTheRestStays) {
  EXPECT_EQ(RedactSecrets("Authorization: Bearer abc.def-ghi_jkl"),
            "Authorization: Bearer [redacted]");
  EXPECT_EQ(RedactSecrets("{\"authorization\":\"Basic dXNlcjpwYXNz\"}"),
            "{\"authorization\":\"Basic [redacted]\"}");
  EXPECT_EQ(RedactSecrets("x?access_token=s3cr3t&y=1"), "x?access_token=[redacted]&y=1");
  EXPECT_EQ(RedactSecrets("client_secret: hunter2"), "client_secret: [redacted]");
  EXPECT_EQ(RedactSecrets("BEARER  tok"), "BEARER  [redacted]");
  // Prose and other words are kept; redaction is idempotent.
  EXPECT_EQ(RedactSecrets("authorization failed for Patient/1"),
            "authorization failed for Patient/1");
  EXPECT_EQ(RedactSecrets("the bearer of news"), "the bearer [redacted] news");
  const std::string once = RedactSecrets("Authorization: Bearer abc");
  EXPECT_EQ(RedactSecrets(once), once);
}

TEST(FhirClientTest, PlainCreateIsSentOnceOnServiceUnavailable) {
  ClientRig rig;
  rig.transport->script = {ScriptedTransport::Status(503), ScriptedTransport::Status(201)};
  ClientResult<Response> r = rig.client->Create("Patient", "{\"resourceType\":\"Patient\"}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().http_status, 503);
  EXPECT_EQ(rig.transport->requests.size(), 1u);
}

TEST(FhirClientTest, MalformedJsonIsATypedError) {
  ClientRig rig;
  rig.transport->script = {ScriptedTransport::Status(200, "{\"resourceType\":\"Pat")};
  ClientResult<Response> r = rig.client->Read("Patient", "1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::kMalformedResponse);
}

TEST(FhirClientTest, RenewsTokenOnceOn401AndRetries) {
  RetryRig rig;
  int tokens = 0;
  rig.transport->handler = [&](const HttpRequest& r) -> ClientResult<HttpResponse> {
    if (r.url == "https://auth.test/token") {
      ++tokens;
      return ScriptedTransport::Status(200, "{\"access_token\":\"t" + std::to_string(tokens) +
                                                "\",\"token_type\":\"bearer\",\"expires_in\":300}");
    }
    if (FindHeader(r.headers, "Authorization") == "Bearer t1") {
      return ScriptedTransport::Status(401);
    }
    return ScriptedTransport::Status(200, "{\"resourceType\":\"Patient\",\"id\":\"1\"}");
  };
  OAuthOptions o;
  o.token_url = "https://auth.test/token";
  o.client_id = "c";
  o.client_secret = "s";
  auto auth = std::make_shared<OAuthTokenProvider>(o, rig.retrying);
  FhirClientOptions fo;
  fo.base_url = kBase;
  FhirClient client(fo, rig.retrying, auth);
  ClientResult<Response> r = client.Read("Patient", "1");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(tokens, 2);
}

TEST(FhirClientTest, PersistentUnauthorizedIsNotRetriedForever) {
  RetryRig rig;
  int tokens = 0;
  rig.transport->handler = [&](const HttpRequest& r) -> ClientResult<HttpResponse> {
    if (r.url == "https://auth.test/token") {
      ++tokens;
      return ScriptedTransport::Status(200, "{\"access_token\":\"t\",\"token_type\":\"bearer\"}");
    }
    return ScriptedTransport::Status(401);
  };
  OAuthOptions o;
  o.token_url = "https://auth.test/token";
  o.client_id = "c";
  o.client_secret = "s";
  FhirClientOptions fo;
  fo.base_url = kBase;
  FhirClient client(fo, rig.retrying, std::make_shared<OAuthTokenProvider>(o, rig.retrying));
  ClientResult<Response> r = client.Read("Patient", "1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_EQ(tokens, 2);
}

}  // namespace
}  // namespace fhir::client
