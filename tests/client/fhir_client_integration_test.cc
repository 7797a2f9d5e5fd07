// FhirClient and RestStore against the real FHIR test server (tests/fhir-server).
#include <set>

#include <gtest/gtest.h>

#include "fhir/client/fhir_client.h"
#include "fhir/client/rest_store.h"
#include "fhir/json.h"
#include "tests/client/fhir_server_env.h"

namespace fhir::client {
namespace {

std::shared_ptr<FhirClient> MakeClient(const std::string& base, size_t max_bytes = 64u << 20) {
  CurlTransportOptions t;
  t.max_response_bytes = max_bytes;
  RetryOptions r;
  r.base_delay = std::chrono::milliseconds(10);
  auto retrying = std::make_shared<RetryingTransport>(std::make_shared<CurlTransport>(t), r,
                                                      nullptr, nullptr, nullptr);
  FhirClientOptions o;
  o.base_url = base;
  return std::make_shared<FhirClient>(o, retrying, std::make_shared<NoAuth>());
}

std::string PatientJson(const std::string& family, const std::string& identifier = "") {
  std::string ident =
      identifier.empty()
          ? ""
          : ",\"identifier\":[{\"system\":\"urn:test\",\"value\":\"" + identifier + "\"}]";
  return "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"" + family + "\"}]" + ident + "}";
}

std::string Id(const Response& r) { return std::string(json::StrMember(*r.body, "id")); }

TEST(FhirClientIntegrationTest, PagesThroughEveryResourceOnceGetAndPost) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  std::set<std::string> created;
  for (int i = 0; i < 23; ++i) {
    ClientResult<Response> r = client->Create("Patient", PatientJson("P" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->status, 201);
    created.insert(Id(r.value()));
  }
  ASSERT_EQ(created.size(), 23u);
  for (SearchVia via : {SearchVia::kGet, SearchVia::kPost}) {
    SearchPager pager = client->Pages("Patient", {{"_count", "5"}}, via);
    std::multiset<std::string> seen;
    for (;;) {
      ClientResult<bool> more = pager.Next();
      ASSERT_TRUE(more.ok()) << more.error().ToString();
      if (!more.value()) break;
      for (const rapidjson::Value& e : json::ArrayMember(pager.page(), "entry")->GetArray()) {
        seen.insert(std::string(json::StrMember(*json::Member(e, "resource"), "id")));
      }
    }
    EXPECT_EQ(pager.pages_read(), 5);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), created);
    EXPECT_EQ(seen.size(), 23u);  // no repeats
  }
}

TEST(FhirClientIntegrationTest, ConditionalCreateTwiceMakesOneResource) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  ClientResult<Response> first =
      client->ConditionalCreate("Patient", PatientJson("Once", "abc"), "identifier=urn:test|abc");
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->status, 201);
  ClientResult<Response> second =
      client->ConditionalCreate("Patient", PatientJson("Once", "abc"), "identifier=urn:test|abc");
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->status, 200);
  ClientResult<Response> found = client->Search("Patient", {{"identifier", "urn:test|abc"}});
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(json::ArrayMember(*found->body, "entry")->Size(), 1u);
}

TEST(FhirClientIntegrationTest, TransactionResolvesUrnUuidReferences) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  const std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:7f3c1a52-0000-4000-8000-000000000001",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:test","value":"tx1"}]},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:test|tx1"}},
    {"fullUrl":"urn:uuid:7f3c1a52-0000-4000-8000-000000000002",
     "resource":{"resourceType":"Flag","status":"active",
       "code":{"text":"needs follow-up"},
       "subject":{"reference":"urn:uuid:7f3c1a52-0000-4000-8000-000000000001"}},
     "request":{"method":"POST","url":"Flag","ifNoneExist":"identifier=urn:test|f1"}}]})";
  ClientResult<BundleResult> r = client->Transaction(bundle);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->entries.size(), 2u);
  EXPECT_EQ(r->entries[0].status, 201);
  EXPECT_EQ(r->entries[1].status, 201);
  std::string patient_location = r->entries[0].location;  // Patient/<id>/_history/1
  std::string patient_id = patient_location.substr(patient_location.find("Patient/") + 8);
  patient_id = patient_id.substr(0, patient_id.find('/'));
  std::string flag_location = r->entries[1].location;
  ClientResult<Response> flag = client->Get(flag_location);
  ASSERT_TRUE(flag.ok()) << flag.error().ToString();
  const rapidjson::Value* subject = json::Member(*flag->body, "subject");
  ASSERT_NE(subject, nullptr);
  EXPECT_EQ(json::StrMember(*subject, "reference"), "Patient/" + patient_id);
}

TEST(FhirClientIntegrationTest, BatchReportsPerEntryResults) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  const std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient",
      "ifNoneExist":"identifier=urn:test|b1"}},
    {"request":{"method":"GET","url":"Patient/does-not-exist"}}]})";
  ClientResult<BundleResult> r = client->Batch(bundle);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->entries.size(), 2u);
  EXPECT_EQ(r->entries[0].status, 201);
  EXPECT_EQ(r->entries[1].status, 404);
}

TEST(FhirClientIntegrationTest, StaleIfMatchIsA412WithItsOutcome) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  ClientResult<Response> created = client->Create("Patient", PatientJson("V"));
  ASSERT_TRUE(created.ok());
  std::string id = Id(created.value());
  std::string body = "{\"resourceType\":\"Patient\",\"id\":\"" + id + "\",\"active\":true}";
  ClientResult<Response> v2 = client->Update("Patient", id, body, "1");
  ASSERT_TRUE(v2.ok()) << v2.error().ToString();
  EXPECT_EQ(v2->etag, "W/\"2\"");
  ClientResult<Response> stale = client->Update("Patient", id, body, "1");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().kind, ClientError::Kind::kHttp);
  EXPECT_EQ(stale.error().http_status, 412);
  ASSERT_FALSE(stale.error().issues.empty());
  EXPECT_EQ(stale.error().issues[0].severity, "error");
  EXPECT_EQ(stale.error().attempts, 1);
  ClientResult<Response> v1 = client->VRead("Patient", id, "1");
  ASSERT_TRUE(v1.ok());
  EXPECT_FALSE(json::IsTrue(*v1->body, "active"));
}

TEST(FhirClientIntegrationTest, UnknownSearchParameterIsAnErrorNotAnEmptyResult) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  ClientResult<Response> r = client->Search("Patient", {{"no-such-param", "x"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ClientError::Kind::kHttp);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_FALSE(r.error().issues.empty());
}

TEST(FhirClientIntegrationTest, ReadOfMissingResourceIs404) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  ClientResult<Response> r = client->Read("Patient", "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().http_status, 404);
  EXPECT_EQ(r.error().ToStatus().code(), fhir::Status::Code::kNotFound);
}

TEST(FhirClientIntegrationTest, CapabilitiesListInteractions) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  ClientResult<Response> cs = client->Capabilities();
  ASSERT_TRUE(cs.ok()) << cs.error().ToString();
  EXPECT_EQ(json::StrMember(*cs->body, "resourceType"), "CapabilityStatement");
  std::set<std::string> task = SupportedInteractions(*cs->body, "Task");
  EXPECT_TRUE(task.count("create"));
  EXPECT_TRUE(task.count("search-type"));
  EXPECT_TRUE(SupportedInteractions(*cs->body, "NoSuchType").empty());
}

TEST(FhirClientIntegrationTest, ResponseLargerThanTheCapIsATypedError) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url(), 2000);
  ClientResult<Response> cs = client->Capabilities();
  ASSERT_FALSE(cs.ok());
  EXPECT_EQ(cs.error().kind, ClientError::Kind::kResponseTooLarge);
  EXPECT_EQ(cs.error().attempts, 1);
}

class CollectingVisitor : public fhir::ResourceVisitor {
 public:
  void OnResource(std::string_view type, const rapidjson::Value& resource,
                  const fhir::SourceLocation&) override {
    ids.push_back(std::string(type) + "/" + std::string(json::StrMember(resource, "id")));
  }
  void OnUnreadable(std::string_view, const fhir::SourceLocation&, std::string_view reason,
                    const std::string&) override {
    unreadable.push_back(std::string(reason));
  }
  std::vector<std::string> ids;
  std::vector<std::string> unreadable;
};

TEST(RestStoreIntegrationTest, StreamsEveryTypeAcrossPagesAndHonoursSince) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(client->Create("Patient", PatientJson("S")).ok());
  ASSERT_TRUE(
      client->Create("Questionnaire", R"({"resourceType":"Questionnaire","status":"active"})")
          .ok());
  RestStoreOptions o;
  o.page_size = 3;
  RestStore store(client.get(), o);
  CollectingVisitor v;
  ASSERT_TRUE(store.ReadAll({"Patient", "Questionnaire", "Observation"}, v).ok());
  EXPECT_EQ(v.ids.size(), 8u);
  EXPECT_TRUE(v.unreadable.empty());
  EXPECT_EQ(store.stats().resources, 8u);
  EXPECT_GT(store.stats().bytes, 0u);
  EXPECT_FALSE(store.first_page_server_time().empty());

  // Everything was written before this instant: a `since` after it finds no Patient, while
  // Questionnaire (no _lastUpdated filter) is still read.
  RestStoreOptions later = o;
  later.since = "2999-01-01T00:00:00Z";
  RestStore incremental(client.get(), later);
  CollectingVisitor v2;
  ASSERT_TRUE(incremental.ReadAll({"Patient", "Questionnaire"}, v2).ok());
  ASSERT_EQ(v2.ids.size(), 1u);
  EXPECT_EQ(v2.ids[0].rfind("Questionnaire/", 0), 0u);
}

TEST(RestStoreIntegrationTest, UnknownTypeStopsWithAnError) {
  REQUIRE_FHIR_SERVER();
  auto client = MakeClient(server->base_url());
  RestStore store(client.get(), RestStoreOptions{});
  CollectingVisitor v;
  fhir::Status s = store.ReadAll({"NotAType"}, v);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("404"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace fhir::client
