// FhirClient through the fault proxy (tests/client/fault_proxy.h) in front of the real FHIR
// test server: for each injected fault, whether the client retried, the delays it asked the
// (recording, non-sleeping) Sleeper for, the error it surfaced, and that no write reached the
// server twice where that would duplicate a resource (issue 4).
#include <gtest/gtest.h>

#include "fhir/client/fhir_client.h"
#include "fhir/json.h"
#include "tests/client/fakes.h"
#include "tests/client/fault_proxy.h"
#include "tests/client/fhir_server_env.h"

namespace fhir::client {
namespace {

using std::chrono::milliseconds;
using testing::Cue;
using testing::FakeClock;
using testing::FakeSleeper;
using testing::Fault;
using testing::FaultProxy;
using testing::FaultProxyOptions;

// A client whose clock only moves when it "sleeps" and whose sleeper records the requested
// delays without sleeping. Each rig has its own CurlTransport, so its first request opens a
// fresh connection.
struct ClientRig {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<FakeSleeper> sleeper = std::make_shared<FakeSleeper>(clock.get());
  std::shared_ptr<RetryingTransport> retrying;
  std::shared_ptr<FhirClient> client;

  static RetryOptions Retry(int max_attempts = 4) {
    RetryOptions o;
    o.max_attempts = max_attempts;
    o.base_delay = milliseconds(100);
    o.max_delay = milliseconds(1000);
    return o;
  }
  explicit ClientRig(const std::string& base, RetryOptions retry = Retry(),
                     milliseconds total_timeout = milliseconds(10'000)) {
    CurlTransportOptions t;
    t.total_timeout = total_timeout;
    retrying =
        std::make_shared<RetryingTransport>(std::make_shared<CurlTransport>(t), retry, clock,
                                            sleeper, std::make_shared<testing::FixedRandom>(0.5));
    FhirClientOptions o;
    o.base_url = base;
    client = std::make_shared<FhirClient>(o, retrying, std::make_shared<NoAuth>());
  }
  // Full jitter with Uniform01 = 0.5 after the first failure: 0.5 * (100 + 1) ms.
  static milliseconds FirstBackoff() { return milliseconds(50); }
};

std::string PatientJson(const std::string& identifier) {
  return R"({"resourceType":"Patient","identifier":[{"system":"urn:test","value":")" + identifier +
         R"("}],"name":[{"family":"Fault"}]})";
}

// How many resources of `type` carry identifier urn:test|<value>, asked of the server directly.
int CountOnServer(const std::string& type, const std::string& value) {
  std::string why;
  testing::FhirTestServer* server = testing::FhirTestServer::Get(&why);
  if (server == nullptr) return -1;
  ClientRig direct(server->base_url());
  ClientResult<Response> r = direct.client->Search(type, {{"identifier", "urn:test|" + value}});
  if (!r.ok()) return -1;
  const rapidjson::Value* entries = json::ArrayMember(*r->body, "entry");
  return entries == nullptr ? 0 : static_cast<int>(entries->Size());
}

uint16_t PortOf(const std::string& root_url) {  // "http://127.0.0.1:N"
  return static_cast<uint16_t>(std::stoi(root_url.substr(root_url.rfind(':') + 1)));
}

// The proxy in front of the test server, stopped at the end of the test.
#define REQUIRE_PROXY()                                     \
  REQUIRE_FHIR_SERVER();                                    \
  FaultProxyOptions proxy_options;                          \
  proxy_options.upstream_port = PortOf(server->root_url()); \
  FaultProxy proxy(proxy_options);                          \
  ASSERT_TRUE(proxy.error().empty()) << proxy.error();      \
  const std::string base = proxy.origin() + "/fhir"

Cue Make(Fault fault, std::string method, std::string path, int times = 1) {
  Cue c;
  c.fault = fault;
  c.method = std::move(method);
  c.path_contains = std::move(path);
  c.times = times;
  return c;
}

std::string CreatedId(const std::string& type, const std::string& identifier) {
  std::string why;
  ClientRig direct(testing::FhirTestServer::Get(&why)->base_url());
  ClientResult<Response> r =
      direct.client->Search(type, {{"identifier", "urn:test|" + identifier}});
  if (!r.ok() || json::ArrayMember(*r->body, "entry") == nullptr) return "";
  const rapidjson::Value& e = (*json::ArrayMember(*r->body, "entry"))[0];
  return std::string(json::StrMember(*json::Member(e, "resource"), "id"));
}

TEST(FaultProxyTest, ForwardsVerbatimRecordsRequestsAndPointsLinksAtItself) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  ClientResult<Response> created = rig.client->Create("Patient", PatientJson("fwd"));
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(created->status, 201);
  EXPECT_TRUE(created->location.starts_with(base + "/Patient/")) << created->location;
  ClientResult<Response> search = rig.client->Search("Patient", {{"identifier", "urn:test|fwd"}});
  ASSERT_TRUE(search.ok()) << search.error().ToString();
  EXPECT_TRUE(BundleLink(*search->body, "self").starts_with(base)) << ToJson(*search->body);

  std::vector<testing::SeenRequest> seen = proxy.Seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/fhir/Patient");
  EXPECT_EQ(seen[0].Header("content-type"), "application/fhir+json");
  EXPECT_EQ(seen[0].body, PatientJson("fwd"));
  EXPECT_TRUE(seen[0].forwarded);
  EXPECT_EQ(seen[0].status, 201);
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_TRUE(seen[1].target.starts_with("/fhir/Patient?identifier=")) << seen[1].target;
  EXPECT_TRUE(rig.sleeper->delays.empty());
}

TEST(FaultProxyTest, Status429IsRetriedAfterExactlyTheRetryAfterDelay) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  ASSERT_TRUE(rig.client->Create("Patient", PatientJson("t429")).ok());
  const std::string id = CreatedId("Patient", "t429");
  Cue cue = Make(Fault::kStatus429, "GET", "/fhir/Patient/" + id, 2);
  cue.retry_after = "3";
  proxy.AddCue(cue);
  ClientResult<Response> read = rig.client->Read("Patient", id);
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  EXPECT_EQ(read->attempts, 3);
  EXPECT_EQ(rig.sleeper->delays,
            (std::vector<milliseconds>{milliseconds(3000), milliseconds(3000)}));
  EXPECT_EQ(proxy.Count("GET", "/fhir/Patient/" + id), 3);
  EXPECT_EQ(proxy.Count("GET", "/fhir/Patient/" + id, /*forwarded_only=*/true), 1);
  EXPECT_EQ(rig.retrying->stats().throttled.load(), 2u);
}

TEST(FaultProxyTest, PlainCreateIsRetriedAfter429BecauseTheServerNeverSawIt) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  Cue cue = Make(Fault::kStatus429, "POST", "/fhir/Patient");
  cue.retry_after = "1";
  proxy.AddCue(cue);
  ClientResult<Response> created = rig.client->Create("Patient", PatientJson("c429"));
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(created->status, 201);
  EXPECT_EQ(created->attempts, 2);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{milliseconds(1000)});
  EXPECT_EQ(proxy.Count("POST", "/fhir/Patient"), 2);
  EXPECT_EQ(proxy.Count("POST", "/fhir/Patient", true), 1);
  EXPECT_EQ(CountOnServer("Patient", "c429"), 1);
}

TEST(FaultProxyTest, Status503OnAReadIsRetriedWithJitteredBackoff) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  proxy.AddCue(Make(Fault::kStatus503, "GET", "/fhir/metadata"));
  ClientResult<Response> cs = rig.client->Capabilities();
  ASSERT_TRUE(cs.ok()) << cs.error().ToString();
  EXPECT_EQ(cs->attempts, 2);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{ClientRig::FirstBackoff()});
  EXPECT_EQ(proxy.Count("GET", "/fhir/metadata"), 2);
}

TEST(FaultProxyTest, Status503UntilAttemptsRunOutSurfacesHttp503WithItsOutcome) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  Cue cue = Make(Fault::kStatus503, "GET", "/fhir/metadata", 10);
  cue.retry_after = "2";
  proxy.AddCue(cue);
  ClientResult<Response> cs = rig.client->Capabilities();
  ASSERT_FALSE(cs.ok());
  EXPECT_EQ(cs.error().kind, ClientError::Kind::kHttp);
  EXPECT_EQ(cs.error().http_status, 503);
  EXPECT_EQ(cs.error().attempts, 4);
  ASSERT_FALSE(cs.error().issues.empty());
  EXPECT_EQ(cs.error().issues[0].code, "transient");
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>(3, milliseconds(2000)));
  EXPECT_EQ(proxy.Count("GET", "/fhir/metadata"), 4);
}

TEST(FaultProxyTest, PlainCreateThrough503IsNotRetried) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  proxy.AddCue(Make(Fault::kStatus503, "POST", "/fhir/Patient"));
  ClientResult<Response> created = rig.client->Create("Patient", PatientJson("c503"));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ClientError::Kind::kHttp);
  EXPECT_EQ(created.error().http_status, 503);
  EXPECT_EQ(created.error().attempts, 1);
  EXPECT_TRUE(rig.sleeper->delays.empty());
  EXPECT_EQ(proxy.Count("POST", "/fhir/Patient"), 1);
  EXPECT_EQ(CountOnServer("Patient", "c503"), 0);
}

TEST(FaultProxyTest, ConnectionResetOnAReadIsRetried) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  proxy.AddCue(Make(Fault::kReset, "GET", "/fhir/metadata"));
  ClientResult<Response> cs = rig.client->Capabilities();
  ASSERT_TRUE(cs.ok()) << cs.error().ToString();
  EXPECT_EQ(cs->attempts, 2);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{ClientRig::FirstBackoff()});
  EXPECT_EQ(proxy.Count("GET", "/fhir/metadata"), 2);
}

TEST(FaultProxyTest, ConditionalCreateThroughResetAfterCommitIsRetriedWithoutADuplicate) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  Cue cue = Make(Fault::kReset, "POST", "/fhir/Patient");
  cue.forward_first = true;  // the server commits, then the client's connection is reset
  proxy.AddCue(cue);
  ClientResult<Response> created = rig.client->ConditionalCreate("Patient", PatientJson("ccreset"),
                                                                 "identifier=urn:test|ccreset");
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(created->status, 200);  // the repeat found the resource the first attempt made
  EXPECT_EQ(created->attempts, 2);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{ClientRig::FirstBackoff()});
  EXPECT_EQ(proxy.Count("POST", "/fhir/Patient", /*forwarded_only=*/true), 2);
  EXPECT_EQ(CountOnServer("Patient", "ccreset"), 1);
}

// A plain create whose answer is lost may have been processed: the error surfaces, and the
// request reached the server exactly once.
TEST(FaultProxyTest, PlainCreateThroughResetAfterCommitIsNotRetried) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  Cue cue = Make(Fault::kReset, "POST", "/fhir/Patient");
  cue.forward_first = true;
  proxy.AddCue(cue);
  ClientResult<Response> created = rig.client->Create("Patient", PatientJson("creset"));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ClientError::Kind::kNetwork) << created.error().ToString();
  EXPECT_EQ(created.error().attempts, 1);
  EXPECT_TRUE(rig.sleeper->delays.empty());
  EXPECT_EQ(proxy.Count("POST", "/fhir/Patient"), 1);
  EXPECT_EQ(CountOnServer("Patient", "creset"), 1);
}

// The same on a kept-alive connection: libcurl silently re-sends a request when a reused
// connection dies before any response byte ("Connection died, retrying a fresh connect"),
// which for a plain POST would be a second, invisible create.
TEST(FaultProxyTest, PlainCreateOnAReusedConnectionThroughResetIsNotResentByTheTransport) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  ASSERT_TRUE(rig.client->Capabilities().ok());  // leaves a kept-alive connection in the pool
  Cue cue = Make(Fault::kReset, "POST", "/fhir/Patient");
  cue.forward_first = true;
  proxy.AddCue(cue);
  ClientResult<Response> created = rig.client->Create("Patient", PatientJson("creuse"));
  EXPECT_FALSE(created.ok()) << "the create was re-sent and answered " << created->status;
  if (!created.ok()) {
    EXPECT_EQ(created.error().kind, ClientError::Kind::kNetwork);
    EXPECT_EQ(created.error().attempts, 1);
  }
  EXPECT_EQ(proxy.Count("POST", "/fhir/Patient"), 1);
  EXPECT_EQ(CountOnServer("Patient", "creuse"), 1);
  // Reads on the same client still work (and may reuse connections again).
  EXPECT_TRUE(rig.client->Capabilities().ok());
}

TEST(FaultProxyTest, StallPastTheTimeoutIsRetriedForReadsAndSurfacesKTimeoutWhenExhausted) {
  REQUIRE_PROXY();
  ClientRig rig(base, ClientRig::Retry(2), milliseconds(300));
  Cue cue = Make(Fault::kStall, "GET", "/fhir/Patient", 1);
  proxy.AddCue(cue);
  ClientResult<Response> first = rig.client->Search("Patient", {{"_count", "1"}});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->attempts, 2);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{ClientRig::FirstBackoff()});

  cue.times = 2;
  proxy.AddCue(cue);
  ClientResult<Response> second = rig.client->Search("Patient", {{"_count", "1"}});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ClientError::Kind::kTimeout) << second.error().ToString();
  EXPECT_EQ(second.error().attempts, 2);
  EXPECT_EQ(proxy.Count("GET", "/fhir/Patient"), 4);
}

TEST(FaultProxyTest, StallOnAPlainCreateSurfacesKTimeoutWithoutARetry) {
  REQUIRE_PROXY();
  ClientRig rig(base, ClientRig::Retry(), milliseconds(300));
  proxy.AddCue(Make(Fault::kStall, "POST", "/fhir/Patient"));
  ClientResult<Response> created = rig.client->Create("Patient", PatientJson("cstall"));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ClientError::Kind::kTimeout) << created.error().ToString();
  EXPECT_EQ(created.error().attempts, 1);
  EXPECT_TRUE(rig.sleeper->delays.empty());
  EXPECT_EQ(proxy.Count("POST", "/fhir/Patient"), 1);
  EXPECT_EQ(CountOnServer("Patient", "cstall"), 0);
}

TEST(FaultProxyTest, TruncatedBodyIsANetworkErrorAndAReadIsRetried) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  Cue cue = Make(Fault::kTruncate, "GET", "/fhir/metadata");
  cue.forward_first = true;
  proxy.AddCue(cue);
  ClientResult<Response> cs = rig.client->Capabilities();
  ASSERT_TRUE(cs.ok()) << cs.error().ToString();
  EXPECT_EQ(cs->attempts, 2);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{ClientRig::FirstBackoff()});

  ClientRig once(base, ClientRig::Retry(1));
  proxy.AddCue(cue);
  ClientResult<Response> failed = once.client->Capabilities();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, ClientError::Kind::kNetwork) << failed.error().ToString();
  EXPECT_EQ(failed.error().attempts, 1);
  EXPECT_EQ(proxy.Count("GET", "/fhir/metadata"), 3);
}

TEST(FaultProxyTest, MalformedJsonWith200IsAMalformedResponseAndNotRetried) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  proxy.AddCue(Make(Fault::kMalformedJson, "GET", "/fhir/Patient"));
  ClientResult<Response> r = rig.client->Search("Patient", {{"_count", "1"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::kMalformedResponse) << r.error().ToString();
  EXPECT_EQ(r.error().http_status, 200);
  EXPECT_EQ(r.error().attempts, 1);
  EXPECT_TRUE(rig.sleeper->delays.empty());
  EXPECT_EQ(proxy.Count("GET", "/fhir/Patient"), 1);
}

std::string ConditionalTransaction(const std::string& tag) {
  std::string entries;
  for (const std::string type : {"Patient", "Practitioner", "Organization"}) {
    if (!entries.empty()) entries += ",";
    std::string value = tag + "-" + type;
    entries += R"({"resource":{"resourceType":")" + type +
               R"(","identifier":[{"system":"urn:test","value":")" + value +
               R"("}]},"request":{"method":"POST","url":")" + type +
               R"(","ifNoneExist":"identifier=urn:test|)" + value + R"("}})";
  }
  return R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}";
}

int CountEach(const std::string& tag) {
  int min = 1 << 30;
  int max = -1;
  for (const std::string type : {"Patient", "Practitioner", "Organization"}) {
    int n = CountOnServer(type, tag + "-" + type);
    min = std::min(min, n);
    max = std::max(max, n);
  }
  return min == max ? min : -1;  // -1: the types disagree
}

TEST(FaultProxyTest, TransactionOfConditionalCreatesThrough503ThenSuccessMakesOneOfEach) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  proxy.AddCue(Make(Fault::kStatus503, "POST", "/fhir"));
  ClientResult<BundleResult> tx = rig.client->Transaction(ConditionalTransaction("tx503"));
  ASSERT_TRUE(tx.ok()) << tx.error().ToString();
  EXPECT_EQ(tx->response.attempts, 2);
  ASSERT_EQ(tx->entries.size(), 3u);
  for (const EntryResult& e : tx->entries) EXPECT_EQ(e.status, 201);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{ClientRig::FirstBackoff()});
  EXPECT_EQ(proxy.Count("POST", "/fhir", /*forwarded_only=*/true), 1);
  EXPECT_EQ(CountEach("tx503"), 1);
}

// The gateway answered 503 after the server committed: the repeat finds every resource.
TEST(FaultProxyTest, TransactionOfConditionalCreatesThrough503AfterCommitMakesOneOfEach) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  Cue cue = Make(Fault::kStatus503, "POST", "/fhir");
  cue.forward_first = true;
  proxy.AddCue(cue);
  ClientResult<BundleResult> tx = rig.client->Transaction(ConditionalTransaction("txc503"));
  ASSERT_TRUE(tx.ok()) << tx.error().ToString();
  EXPECT_EQ(tx->response.attempts, 2);
  ASSERT_EQ(tx->entries.size(), 3u);
  for (const EntryResult& e : tx->entries) EXPECT_EQ(e.status, 200);
  EXPECT_EQ(proxy.Count("POST", "/fhir", true), 2);
  EXPECT_EQ(CountEach("txc503"), 1);
}

TEST(FaultProxyTest, TransactionOfConditionalCreatesThroughResetAfterCommitMakesOneOfEach) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  Cue cue = Make(Fault::kReset, "POST", "/fhir");
  cue.forward_first = true;
  proxy.AddCue(cue);
  ClientResult<BundleResult> tx = rig.client->Transaction(ConditionalTransaction("txreset"));
  ASSERT_TRUE(tx.ok()) << tx.error().ToString();
  EXPECT_EQ(tx->response.attempts, 2);
  EXPECT_EQ(proxy.Count("POST", "/fhir", true), 2);
  EXPECT_EQ(CountEach("txreset"), 1);
}

TEST(FaultProxyTest, TransactionWithAPlainCreateThrough503IsNotRetried) {
  REQUIRE_PROXY();
  ClientRig rig(base);
  proxy.AddCue(Make(Fault::kStatus503, "POST", "/fhir"));
  const std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":)" + PatientJson("txplain") +
                             R"(,"request":{"method":"POST","url":"Patient"}}]})";
  ClientResult<BundleResult> tx = rig.client->Transaction(bundle);
  ASSERT_FALSE(tx.ok());
  EXPECT_EQ(tx.error().http_status, 503);
  EXPECT_EQ(tx.error().attempts, 1);
  EXPECT_EQ(CountOnServer("Patient", "txplain"), 0);
}

}  // namespace
}  // namespace fhir::client
