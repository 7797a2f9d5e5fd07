// `serve` end to end: a real Beast server on an ephemeral loopback port, a real Beast HTTP
// client. Discovery, patient-view on prefetch built from samples/ (cards = expected flags),
// 412 without prefetch, health/ready/metrics, feedback, the EHR JWT checks, graceful stop.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "fhir/client/jwt.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/referrals/referral_planner.h"
#include "plugin/service/cds_hooks.h"
#include "plugin/service/http_server.h"
#include "plugin/service/jwt_verifier.h"
#include "plugin/service/serve_command.h"
#include "plugin/service/service_app.h"
#include "plugin/setup/pipeline.h"
#include "tests/client/key_util.h"

namespace sdoh::service {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using fhir::client::Base64UrlEncode;
using fhir::client::JwsAlg;
using fhir::client::SigningKey;

const std::string kBase = "https://sdoh.example.test";
const std::string kIssuer = "https://ehr.example.test";
const std::string kServicePath = std::string("/cds-services/") + kPatientViewServiceId;

struct Reply {
  int status = 0;
  std::string body;
  bool keep_alive = true;
};

Reply Fetch(uint16_t port, http::verb verb, const std::string& target, const std::string& body = "",
            const std::string& auth = "") {
  net::io_context ioc;
  net::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!auth.empty()) req.set(http::field::authorization, auth);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  beast::error_code ec;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  return Reply{static_cast<int>(res.result_int()), res.body(), res.keep_alive()};
}

rapidjson::Document Parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  return d;
}

std::vector<std::string> ReadLines(const std::string& file) {
  std::ifstream in(std::string(SDOH_SOURCE_DIR) + "/samples/" + file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The prefetch an EHR would send for `patient_id`, from samples/: its Patient, its
// QuestionnaireResponses (plus the Questionnaires) and its Observations, no open referrals.
std::string HookBody(const std::string& patient_id, const std::string& open_referrals = "",
                     const std::string& extra_qr_entries = "",
                     const std::string& user_id = "Practitioner/example") {
  std::string patient, qr, obs;
  auto add = [](std::string* bundle, const std::string& line) {
    *bundle += (bundle->empty() ? "" : ",") + std::string("{\"resource\":") + line + "}";
  };
  for (const auto& line : ReadLines("Patient.ndjson")) {
    if (Parse(line)["id"].GetString() == patient_id) patient = line;
  }
  for (const auto& line : ReadLines("Questionnaire.ndjson")) add(&qr, line);
  if (!extra_qr_entries.empty()) add(&qr, extra_qr_entries);
  const std::string subject = "\"subject\":{\"reference\":\"Patient/" + patient_id + "\"";
  for (const auto& line : ReadLines("QuestionnaireResponse.ndjson")) {
    if (line.find(subject) != std::string::npos) add(&qr, line);
  }
  for (const auto& line : ReadLines("Observation.ndjson")) {
    if (line.find(subject) != std::string::npos) add(&obs, line);
  }
  auto bundle = [](const std::string& entries) {
    return R"({"resourceType":"Bundle","type":"searchset","entry":[)" + entries + "]}";
  };
  return R"({"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",)"
         R"("context":{"userId":")" +
         user_id + R"(","patientId":")" + patient_id + R"("},"prefetch":{"patient":)" + patient +
         ",\"qr\":" + bundle(qr) + ",\"obs\":" + bundle(obs) +
         ",\"openReferrals\":" + bundle(open_referrals) + "}}";
}

std::set<std::string> ExpectedNeeds(const std::string& patient_id) {
  std::set<std::string> out;
  for (const auto& line : ReadLines("expected-flags.ndjson")) {
    auto d = Parse(line);
    if (d["patient"].GetString() == "Patient/" + patient_id) out.insert(d["flag"].GetString());
  }
  return out;
}

// need → the ServiceRequest identifier the batch writeback gives that expected flag (samples
// carry no meta.versionId, so the evidence references are the whole input of the hash).
std::map<std::string, std::string> ExpectedIdentifiers(const std::string& patient_id) {
  std::map<std::string, std::string> out;
  for (const auto& line : ReadLines("expected-flags.ndjson")) {
    auto d = Parse(line);
    if (d["patient"].GetString() != "Patient/" + patient_id) continue;
    NeedFlag flag;
    flag.patient_id = patient_id;
    flag.need = d["flag"].GetString();
    for (const auto& e : d["evidence"].GetArray()) flag.evidence[e.GetString()] = "";
    out[flag.need] = ServiceRequestIdentifier(flag);
  }
  return out;
}

std::shared_ptr<const Pipeline> LoadSamplePipeline() {
  auto p = LoadPipeline(DefaultConfigPath());
  EXPECT_TRUE(p.ok()) << p.status().message();
  return std::make_shared<const Pipeline>(std::move(*p));
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Token(const std::string& header, const std::string& claims, const SigningKey* key) {
  std::string signing_input = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  std::string sig = key ? key->Sign(signing_input).value() : std::string("sig");
  return signing_input + "." + Base64UrlEncode(sig);
}

std::string Claims(const std::string& aud, int64_t exp, const std::string& jti) {
  return R"({"iss":")" + kIssuer + R"(","aud":")" + aud + R"(","exp":)" + std::to_string(exp) +
         R"(,"iat":)" + std::to_string(Now()) + R"(,"jti":")" + jti + R"("})";
}

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pipeline_ = LoadSamplePipeline(); }
  static void TearDownTestSuite() { pipeline_.reset(); }

  void StartServer(ServiceSettings settings) {
    app_ = std::make_shared<ServiceApp>(pipeline_, std::move(settings));
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    auto app = app_;
    server_ =
        std::make_unique<HttpServer>(o, [app](const HttpRequest& r) { return app->Handle(r); });
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }
  void TearDown() override { server_.reset(); }

  static std::shared_ptr<const Pipeline> pipeline_;
  std::shared_ptr<ServiceApp> app_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};
std::shared_ptr<const Pipeline> ServiceTest::pipeline_;

class NoAuthServiceTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceSettings s;
    s.no_auth = true;
    StartServer(std::move(s));
  }
};

TEST_F(NoAuthServiceTest, HealthReadyAndMetrics) {
  Reply h = Fetch(port_, http::verb::get, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, R"({"status":"ok"})");
  EXPECT_EQ(Fetch(port_, http::verb::get, "/readyz").status, 200);
  Reply m = Fetch(port_, http::verb::get, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find(R"(sdoh_http_requests_total{path="/healthz",status="200"} 1)"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("# TYPE sdoh_http_request_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(m.body.find("sdoh_http_request_duration_seconds_count 2"), std::string::npos);
}

TEST_F(NoAuthServiceTest, MetricsNeedTheTokenWhenOneIsConfigured) {
  server_.reset();
  ServiceSettings s;
  s.no_auth = true;
  s.metrics_token = "t0ken";
  StartServer(std::move(s));
  EXPECT_EQ(Fetch(port_, http::verb::get, "/metrics").status, 403);
  EXPECT_EQ(Fetch(port_, http::verb::get, "/metrics", "", "Bearer t0ken").status, 200);
}

TEST_F(NoAuthServiceTest, DiscoveryListsPatientViewWithPrefetch) {
  Reply r = Fetch(port_, http::verb::get, "/cds-services");
  ASSERT_EQ(r.status, 200);
  auto d = Parse(r.body);
  ASSERT_TRUE(d.IsObject());
  ASSERT_EQ(d["services"].Size(), 1u);
  const auto& svc = d["services"][0];
  EXPECT_STREQ(svc["hook"].GetString(), "patient-view");
  EXPECT_STREQ(svc["id"].GetString(), kPatientViewServiceId);
  EXPECT_STREQ(svc["prefetch"]["patient"].GetString(), "Patient/{{context.patientId}}");
  EXPECT_STREQ(svc["prefetch"]["qr"].GetString(),
               "QuestionnaireResponse?subject=Patient/{{context.patientId}}");
  // The screening codes come from mappings/instruments/: every panel (with its members at any
  // depth: panel → group → item, issue 14) and every question code (standalone items).
  const std::string obs = svc["prefetch"]["obs"].GetString();
  EXPECT_EQ(obs.rfind("Observation?subject=Patient/{{context.patientId}}&code=", 0), 0u) << obs;
  for (const char* code : {"96777-8", "97023-6", "88121-9", "93025-5", "88122-7", "88124-3"}) {
    EXPECT_NE(obs.find(std::string("http://loinc.org|") + code), std::string::npos) << code;
  }
  const std::string include = "&_include:iterate=Observation:has-member";
  EXPECT_EQ(obs.substr(obs.size() - include.size()), include);
  EXPECT_STREQ(svc["prefetch"]["openReferrals"].GetString(),
               "ServiceRequest?subject=Patient/{{context.patientId}}&status=draft,active,on-hold");
}

void ExpectCardsMatch(const std::string& patient_id, const Reply& r) {
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = Parse(r.body);
  ASSERT_TRUE(d.IsObject() && d["cards"].IsArray()) << r.body;
  std::set<std::string> needs;
  int suggestions = 0;
  for (const auto& card : d["cards"].GetArray()) {
    std::string summary = card["summary"].GetString();
    EXPECT_LT(summary.size(), 140u);
    const std::string prefix = "Social need: ";
    ASSERT_EQ(summary.rfind(prefix, 0), 0u) << summary;
    std::string need =
        summary.substr(prefix.size(), summary.find_first_of(" ", prefix.size()) - prefix.size());
    needs.insert(need);
    EXPECT_TRUE(card.HasMember("uuid"));
    EXPECT_TRUE(card["source"].HasMember("label"));
    std::string indicator = card["indicator"].GetString();
    bool warn = need == "interpersonal-safety" || need.rfind("housing-", 0) == 0;
    EXPECT_EQ(indicator, warn ? "warning" : "info") << need;
    std::string detail = card["detail"].GetString();
    EXPECT_TRUE(detail.find("- QuestionnaireResponse/") != std::string::npos ||
                detail.find("- Observation/") != std::string::npos)
        << detail;
    EXPECT_NE(detail.find("**Why**"), std::string::npos);
    if (card.HasMember("suggestions")) {
      EXPECT_STREQ(card["selectionBehavior"].GetString(), "at-most-one");
      EXPECT_TRUE(card["overrideReasons"].IsArray());
      const auto& action = card["suggestions"][0]["actions"][0];
      EXPECT_STREQ(action["type"].GetString(), "create");
      const auto& sr = action["resource"];
      EXPECT_STREQ(sr["resourceType"].GetString(), "ServiceRequest");
      std::string id = sr["identifier"][0]["value"].GetString();
      EXPECT_EQ(id, ExpectedIdentifiers(patient_id)[need]) << need;
      ++suggestions;
    }
  }
  EXPECT_EQ(needs, ExpectedNeeds(patient_id)) << r.body;
  EXPECT_GT(suggestions, 0);
}

TEST_F(NoAuthServiceTest, PatientViewCardsEqualExpectedFlagsPat01) {
  ExpectCardsMatch("pat01", Fetch(port_, http::verb::post, kServicePath, HookBody("pat01")));
}

TEST_F(NoAuthServiceTest, PatientViewCardsEqualExpectedFlagsPat05) {
  ExpectCardsMatch("pat05", Fetch(port_, http::verb::post, kServicePath, HookBody("pat05")));
}

// Calls evaluate in parallel (no mutex; each on a pipeline of its own): many concurrent calls
// for different patients give exactly the cards of one call at a time.
TEST_F(NoAuthServiceTest, ConcurrentCallsGiveTheSameCardsAsOneAtATime) {
  auto cards = [](const std::string& body) {
    std::vector<std::string> out;
    auto d = Parse(body);
    if (!d.IsObject() || !d.HasMember("cards")) return out;
    for (const auto& card : d["cards"].GetArray()) {
      std::string line = card["summary"].GetString();
      if (card.HasMember("suggestions")) {
        line += " " + std::string(
                          card["suggestions"][0]["actions"][0]["resource"]["identifier"][0]["value"]
                              .GetString());
      }
      out.push_back(line);
    }
    return out;
  };
  const std::vector<std::string> patients = {"pat01", "pat03", "pat05", "pat08"};
  std::map<std::string, std::vector<std::string>> one_at_a_time;
  for (const auto& p : patients) {
    one_at_a_time[p] = cards(Fetch(port_, http::verb::post, kServicePath, HookBody(p)).body);
    ASSERT_FALSE(one_at_a_time[p].empty()) << p;
  }
  std::vector<std::future<int>> clients;
  for (int c = 0; c < 4; ++c) {
    clients.push_back(std::async(std::launch::async, [&, c] {
      int mismatches = 0;
      for (int i = 0; i < 25; ++i) {
        const std::string& p = patients[static_cast<size_t>(c + i) % patients.size()];
        Reply r = Fetch(port_, http::verb::post, kServicePath, HookBody(p));
        if (r.status != 200 || cards(r.body) != one_at_a_time[p]) ++mismatches;
      }
      return mismatches;
    }));
  }
  for (auto& c : clients) EXPECT_EQ(c.get(), 0);
}

// Issue 12: one call's prefetch can never change another patient's cards. Patient B's prefetch
// carries a Questionnaire that reuses the canonical of pat07's form (sdoh-intake, whose linkIds
// the catalog maps: rule 3b) with other item codes. Before the catalog was immutable, that
// Questionnaire was registered in the shared (pooled) catalog and pat07's next call read its
// answers through it (rule 3a wins over 3b): different cards.
std::string PoisonedIntakeQuestionnaire() {
  std::string items;
  for (const char* link : {"q1-living", "q2-problems", "q3-food-worry", "q4-food-last",
                           "q5-transport", "q6-utilities", "q11-pay-basics", "q12-language"}) {
    items += std::string(items.empty() ? "" : ",") + R"({"linkId":")" + link +
             R"(","code":[{"system":"http://loinc.org","code":"54899-0"}],"type":"choice"})";
  }
  return R"({"resourceType":"Questionnaire","id":"poison","status":"active",)"
         R"("url":"http://clinic.example.org/fhir/Questionnaire/sdoh-intake","item":[)" +
         items + "]}";
}

std::vector<std::string> CardLines(const std::string& body) {
  std::vector<std::string> out;
  auto d = Parse(body);
  if (!d.IsObject() || !d.HasMember("cards")) return out;
  for (const auto& card : d["cards"].GetArray()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    card.Accept(w);
    // Card and suggestion uuids, and the suggestion's authoredOn (the call's clock), differ per
    // call by design.
    static const std::regex kPerCall(R"re("(uuid|authoredOn)":"[^"]*")re");
    std::string line = std::regex_replace(sb.GetString(), kPerCall, R"re("$1":"")re");
    out.push_back(line);
  }
  return out;
}

TEST_F(NoAuthServiceTest, APrefetchQuestionnaireNeverChangesAnotherPatientsCards) {
  const auto first =
      CardLines(Fetch(port_, http::verb::post, kServicePath, HookBody("pat07")).body);
  ASSERT_FALSE(first.empty());
  Reply poisoned = Fetch(port_, http::verb::post, kServicePath,
                         HookBody("pat40", "", PoisonedIntakeQuestionnaire()));
  ASSERT_EQ(poisoned.status, 200) << poisoned.body;
  EXPECT_EQ(CardLines(Fetch(port_, http::verb::post, kServicePath, HookBody("pat07")).body), first);
  // The same with calls running at once: pat07's cards never change.
  std::vector<std::future<int>> clients;
  for (int c = 0; c < 4; ++c) {
    clients.push_back(std::async(std::launch::async, [&, c] {
      int mismatches = 0;
      for (int i = 0; i < 10; ++i) {
        if (c % 2 == 0) {
          Fetch(port_, http::verb::post, kServicePath,
                HookBody("pat40", "", PoisonedIntakeQuestionnaire()));
        } else if (CardLines(
                       Fetch(port_, http::verb::post, kServicePath, HookBody("pat07")).body) !=
                   first) {
          ++mismatches;
        }
      }
      return mismatches;
    }));
  }
  for (auto& c : clients) EXPECT_EQ(c.get(), 0);
  EXPECT_EQ(CardLines(Fetch(port_, http::verb::post, kServicePath, HookBody("pat07")).body), first);
}

TEST_F(NoAuthServiceTest, OpenReferralOfTheSameDomainSuppressesTheSuggestion) {
  auto first = Parse(Fetch(port_, http::verb::post, kServicePath, HookBody("pat01")).body);
  ASSERT_GT(first["cards"].Size(), 0u);
  const auto& card = first["cards"][0];
  ASSERT_TRUE(card.HasMember("suggestions"));
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  card["suggestions"][0]["actions"][0]["resource"].Accept(w);
  std::string open = std::string("{\"resource\":") + sb.GetString() + "}";
  auto second = Parse(Fetch(port_, http::verb::post, kServicePath, HookBody("pat01", open)).body);
  ASSERT_EQ(second["cards"].Size(), first["cards"].Size());
  EXPECT_FALSE(second["cards"][0].HasMember("suggestions"));
  EXPECT_NE(std::string(second["cards"][0]["detail"].GetString()).find("open referral"),
            std::string::npos);
}

TEST_F(NoAuthServiceTest, SuggestedServiceRequestIdentifierIsDeterministic) {
  auto a = Parse(Fetch(port_, http::verb::post, kServicePath, HookBody("pat05")).body);
  auto b = Parse(Fetch(port_, http::verb::post, kServicePath, HookBody("pat05")).body);
  ASSERT_GT(a["cards"].Size(), 0u);
  for (rapidjson::SizeType i = 0; i < a["cards"].Size(); ++i) {
    if (!a["cards"][i].HasMember("suggestions")) continue;
    EXPECT_STREQ(a["cards"][i]["suggestions"][0]["actions"][0]["resource"]["identifier"][0]["value"]
                     .GetString(),
                 b["cards"][i]["suggestions"][0]["actions"][0]["resource"]["identifier"][0]["value"]
                     .GetString());
  }
}

TEST_F(NoAuthServiceTest, MissingPrefetchWithoutFhirServerIs412) {
  std::string body = R"({"hook":"patient-view","hookInstance":"x",)"
                     R"("context":{"userId":"Practitioner/1","patientId":"pat01"}})";
  EXPECT_EQ(Fetch(port_, http::verb::post, kServicePath, body).status, 412);
}

std::string FeedbackBody(const std::vector<std::string>& entries) {
  std::string out = R"({"feedback":[)";
  for (size_t i = 0; i < entries.size(); ++i) out += (i ? "," : "") + entries[i];
  return out + "]}";
}

std::string Overridden(const std::string& card, const std::string& reason = "patient-declined") {
  return R"({"card":")" + card +
         R"(","outcome":"overridden","outcomeTimestamp":"2026-12-03T10:00:00Z",)"
         R"("overrideReason":{"reason":{"system":"urn:sdoh-bridge:cds-override-reason","code":")" +
         reason + R"("},"userComment":"x"}})";
}

TEST_F(NoAuthServiceTest, FeedbackIsCounted) {
  auto cards = Parse(Fetch(port_, http::verb::post, kServicePath, HookBody("pat01")).body);
  ASSERT_GE(cards["cards"].Size(), 1u);
  const auto& card = cards["cards"][0];
  ASSERT_TRUE(card.HasMember("suggestions"));
  std::string accepted = R"({"card":")" + std::string(card["uuid"].GetString()) +
                         R"(","outcome":"accepted","outcomeTimestamp":"2026-12-03T10:00:00Z",)"
                         R"("acceptedSuggestions":[{"id":")" +
                         card["suggestions"][0]["uuid"].GetString() + R"("}]})";
  std::string fb = FeedbackBody({accepted, Overridden(card["uuid"].GetString())});
  EXPECT_EQ(Fetch(port_, http::verb::post, kServicePath + "/feedback", fb).status, 200);
  EXPECT_EQ(Fetch(port_, http::verb::post, kServicePath + "/feedback", "{}").status, 400);
  std::string m = Fetch(port_, http::verb::get, "/metrics").body;
  EXPECT_NE(m.find(R"(sdoh_cds_feedback_total{outcome="accepted"} 1)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(sdoh_cds_feedback_total{outcome="overridden"} 1)"), std::string::npos);
  EXPECT_NE(m.find(R"(sdoh_cds_cards_total{need="food"} 1)"), std::string::npos) << m;
}

// Issue 13 #13: one POST carried 95,000 outcomes, for cards nobody issued. Now: at most 100 per
// POST, and only uuids of cards this service issued (kept in a bounded store) count.
TEST_F(NoAuthServiceTest, FeedbackIsBoundedAndOnlyForCardsThisServiceIssued) {
  auto cards = Parse(Fetch(port_, http::verb::post, kServicePath, HookBody("pat01")).body);
  ASSERT_GE(cards["cards"].Size(), 1u);
  const std::string uuid = cards["cards"][0]["uuid"].GetString();
  const std::string need =
      std::string(cards["cards"][0]["summary"].GetString()).substr(13);  // "Social need: "

  Reply unknown = Fetch(port_, http::verb::post, kServicePath + "/feedback",
                        FeedbackBody({Overridden("00000000-0000-4000-8000-000000000000")}));
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  std::vector<std::string> many(101, Overridden(uuid));
  Reply big = Fetch(port_, http::verb::post, kServicePath + "/feedback", FeedbackBody(many));
  EXPECT_EQ(big.status, 400) << big.body;
  EXPECT_NE(big.body.find("at most 100"), std::string::npos) << big.body;
  std::string m = Fetch(port_, http::verb::get, "/metrics").body;
  EXPECT_EQ(m.find(R"(sdoh_cds_feedback_total{outcome="overridden"})"), std::string::npos) << m;

  // Issue 14 item 7 (recording only): an override with its reason is kept, by patient and need.
  many.resize(100);
  EXPECT_EQ(Fetch(port_, http::verb::post, kServicePath + "/feedback", FeedbackBody(many)).status,
            200);
  auto kept = app_->feedback();
  ASSERT_EQ(kept.size(), 100u);
  EXPECT_EQ(kept[0].patient_id, "pat01");
  EXPECT_EQ(need.rfind(kept[0].need, 0), 0u) << need;
  EXPECT_EQ(kept[0].outcome, "overridden");
  EXPECT_EQ(kept[0].reason, "patient-declined");
}

std::set<std::string> CardNeeds(const Reply& r) {
  std::set<std::string> out;
  auto d = Parse(r.body);
  if (!d.IsObject() || !d.HasMember("cards")) return out;
  for (const auto& card : d["cards"].GetArray()) {
    std::string summary = card["summary"].GetString();
    out.insert(summary.substr(13, summary.find(' ', 13) - 13));
  }
  return out;
}

// Issue 14 item 6: a patient-view opened by the patient or a relative shows no card for a
// sensitive need (pat06 screened positive for interpersonal safety); the care team sees it.
TEST_F(NoAuthServiceTest, PatientOrRelatedPersonViewerGetsNoSensitiveCard) {
  std::set<std::string> all = ExpectedNeeds("pat06");
  ASSERT_TRUE(all.count("interpersonal-safety"));
  std::set<std::string> neutral = all;
  neutral.erase("interpersonal-safety");
  for (const std::string viewer : {"RelatedPerson/partner-1", "Patient/pat06"}) {
    SCOPED_TRACE(viewer);
    Reply r = Fetch(port_, http::verb::post, kServicePath, HookBody("pat06", "", "", viewer));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(CardNeeds(r), neutral) << r.body;
    for (const char* word : {"safety", "hits", "HITS", "76501-6", "93026-3"}) {
      EXPECT_EQ(r.body.find(word), std::string::npos) << word << " in " << r.body;
    }
  }
  Reply clinician = Fetch(port_, http::verb::post, kServicePath,
                          HookBody("pat06", "", "", "PractitionerRole/r1"));
  EXPECT_EQ(CardNeeds(clinician), all);
}

// Issue 14 item 6: the suggestion's requester is the viewing practitioner.
TEST_F(NoAuthServiceTest, SuggestionRequesterIsTheViewingPractitioner) {
  for (const std::string viewer : {"Practitioner/dr-7", "PractitionerRole/role-3"}) {
    auto d =
        Parse(Fetch(port_, http::verb::post, kServicePath, HookBody("pat01", "", "", viewer)).body);
    ASSERT_GT(d["cards"].Size(), 0u);
    int suggestions = 0;
    for (const auto& card : d["cards"].GetArray()) {
      if (!card.HasMember("suggestions")) continue;
      ++suggestions;
      const auto& sr = card["suggestions"][0]["actions"][0]["resource"];
      ASSERT_TRUE(sr.HasMember("requester"));
      EXPECT_EQ(std::string(sr["requester"]["reference"].GetString()), viewer);
    }
    EXPECT_GT(suggestions, 0);
  }
}

// Issue 13 #13: markdown in a value that reaches a card's detail (here a meta.versionId of
// the evidence) renders as text, never as a link or emphasis.
TEST_F(NoAuthServiceTest, MarkdownInValuesIsEscapedInCardDetail) {
  std::string body = HookBody("pat01");
  const std::string injected = "[click](https://evil.example/x) *bold* <b>";
  // Every resource of the prefetch that has a meta gets the hostile versionId.
  size_t at = 0;
  int stamped = 0;
  while ((at = body.find("\"meta\":{", at)) != std::string::npos) {
    at += 8;
    body.insert(at, "\"versionId\":\"" + injected + "\",");
    ++stamped;
  }
  ASSERT_GT(stamped, 0);
  Reply r = Fetch(port_, http::verb::post, kServicePath, body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = Parse(r.body);
  ASSERT_GT(d["cards"].Size(), 0u);
  bool seen = false;
  for (const auto& card : d["cards"].GetArray()) {
    std::string detail = card["detail"].GetString();
    EXPECT_EQ(detail.find("[click]("), std::string::npos) << detail;
    EXPECT_EQ(detail.find("<b>"), std::string::npos) << detail;
    EXPECT_EQ(detail.find(" *bold*"), std::string::npos) << detail;
    seen |= detail.find("\\[click\\]\\(https\\://evil.example/x\\)") != std::string::npos;
  }
  EXPECT_TRUE(seen) << r.body;
  EXPECT_EQ(EscapeMarkdown("a\nb_c"), "a b\\_c");
}

// Issue 14 item 6: PRAPARE is panel → group → item. A prefetch made with the one-level
// `_include=Observation:has-member` lacks the items: without a fhirServer to read them from that
// is 412, never a 200 with no cards. The `_include:iterate` prefetch gives the cards of `run`.
TEST_F(NoAuthServiceTest, ThreeLevelPrapareNeedsEveryMemberOr412) {
  Reply full = Fetch(port_, http::verb::post, kServicePath, HookBody("pat06"));
  ASSERT_EQ(full.status, 200) << full.body;
  EXPECT_EQ(CardNeeds(full), ExpectedNeeds("pat06"));

  // What the one-level include returns: the panel and its direct members (the groups).
  std::string panel, groups;
  std::set<std::string> group_ids;
  for (const auto& line : ReadLines("Observation.ndjson")) {
    auto d = Parse(line);
    if (std::string(d["id"].GetString()) == "p06-prapare") {
      panel = line;
      for (const auto& m : d["hasMember"].GetArray()) {
        group_ids.insert(std::string(m["reference"].GetString()).substr(12));
      }
    }
  }
  ASSERT_FALSE(panel.empty());
  for (const auto& line : ReadLines("Observation.ndjson")) {
    auto d = Parse(line);
    if (group_ids.count(d["id"].GetString())) groups += ",{\"resource\":" + line + "}";
  }
  std::string body = HookBody("pat06");
  size_t obs = body.find("\"obs\":");
  size_t open = body.find(",\"openReferrals\":");
  ASSERT_NE(obs, std::string::npos);
  body = body.substr(0, obs) +
         R"("obs":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":)" + panel +
         "}" + groups + "]}" + body.substr(open);
  Reply partial = Fetch(port_, http::verb::post, kServicePath, body);
  EXPECT_EQ(partial.status, 412) << partial.body;
  EXPECT_NE(partial.body.find("hasMember"), std::string::npos) << partial.body;
}

class AuthServiceTest : public ServiceTest {
 protected:
  void SetUp() override {
    auto rsa = SigningKey::FromPem(fhir::client::testing::GeneratePrivateKeyPem(JwsAlg::kRS384),
                                   JwsAlg::kRS384, "rsa-1");
    auto ec = SigningKey::FromPem(fhir::client::testing::GeneratePrivateKeyPem(JwsAlg::kES384),
                                  JwsAlg::kES384, "ec-1");
    ASSERT_TRUE(rsa.ok() && ec.ok());
    rsa_ = std::make_unique<SigningKey>(rsa.value());
    ec_ = std::make_unique<SigningKey>(ec.value());
    auto rsa_jwk = PublicJwkFromPem(rsa_->PublicKeyPem(), "rsa-1", "RS384");
    auto ec_jwk = PublicJwkFromPem(ec_->PublicKeyPem(), "ec-1", "ES384");
    ASSERT_TRUE(rsa_jwk.ok() && ec_jwk.ok());
    JwtPolicy policy;
    policy.allowed_issuers = {kIssuer};
    auto verifier = JwtVerifier::FromJwks("{\"keys\":[" + *rsa_jwk + "," + *ec_jwk + "]}", policy);
    ASSERT_TRUE(verifier.ok()) << verifier.status().message();
    ServiceSettings s;
    s.public_base_url = kBase;
    s.verifier = *verifier;
    StartServer(std::move(s));
  }

  int Discover(const std::string& token) {
    return Fetch(port_, http::verb::get, "/cds-services", "", "Bearer " + token).status;
  }
  // 401, and refused for `reason` (the metrics label), not for some other defect of the token.
  void ExpectRejected(const std::string& token, const std::string& reason) {
    EXPECT_EQ(Discover(token), 401);
    std::string m = Fetch(port_, http::verb::get, "/metrics").body;
    EXPECT_NE(m.find("sdoh_jwt_rejections_total{reason=\"" + reason + "\"} 1"), std::string::npos)
        << m;
  }
  std::string Good(const SigningKey& key, const std::string& jti) {
    return Token(std::string(R"({"alg":")") + std::string(fhir::client::JwsAlgName(key.alg())) +
                     R"(","kid":")" + key.kid() + R"(","typ":"JWT"})",
                 Claims(kBase + "/cds-services", Now() + 300, jti), &key);
  }

  std::unique_ptr<SigningKey> rsa_, ec_;
};

TEST_F(AuthServiceTest, ValidRs384AndEs384Accepted) {
  EXPECT_EQ(Discover(Good(*rsa_, "j-rsa")), 200);
  EXPECT_EQ(Discover(Good(*ec_, "j-ec")), 200);
  std::string service_aud = kBase + kServicePath;
  std::string t = Token(R"({"alg":"ES384","kid":"ec-1","typ":"JWT"})",
                        Claims(service_aud, Now() + 300, "j-call"), ec_.get());
  EXPECT_EQ(Fetch(port_, http::verb::post, kServicePath, HookBody("pat01"), "Bearer " + t).status,
            200);
}

TEST_F(AuthServiceTest, NoTokenIs401) {
  EXPECT_EQ(Fetch(port_, http::verb::get, "/cds-services").status, 401);
  EXPECT_EQ(Fetch(port_, http::verb::post, kServicePath, HookBody("pat01")).status, 401);
}

TEST_F(AuthServiceTest, ExpiredIs401) {
  ExpectRejected(Token(R"({"alg":"RS384","kid":"rsa-1","typ":"JWT"})",
                       Claims(kBase + "/cds-services", Now() - 3600, "j1"), rsa_.get()),
                 "exp");
}

TEST_F(AuthServiceTest, WrongAudienceIs401) {
  ExpectRejected(Token(R"({"alg":"RS384","kid":"rsa-1","typ":"JWT"})",
                       Claims("https://other.example/cds-services", Now() + 300, "j2"), rsa_.get()),
                 "aud");
}

TEST_F(AuthServiceTest, UnknownKidIs401) {
  ExpectRejected(Token(R"({"alg":"RS384","kid":"nope","typ":"JWT"})",
                       Claims(kBase + "/cds-services", Now() + 300, "j3"), rsa_.get()),
                 "kid");
}

TEST_F(AuthServiceTest, AlgNoneIs401) {
  std::string claims = Claims(kBase + "/cds-services", Now() + 300, "j4");
  std::string unsigned_token = Base64UrlEncode(R"({"alg":"none","kid":"rsa-1","typ":"JWT"})") +
                               "." + Base64UrlEncode(claims) + ".";
  ExpectRejected(unsigned_token, "alg");
}

TEST_F(AuthServiceTest, Hs256Is401) {
  ExpectRejected(Token(R"({"alg":"HS256","kid":"rsa-1","typ":"JWT"})",
                       Claims(kBase + "/cds-services", Now() + 300, "j5"), nullptr),
                 "alg");
}

TEST_F(AuthServiceTest, ReplayedJtiIs401AndCounted) {
  std::string t = Good(*rsa_, "j-replay");
  EXPECT_EQ(Discover(t), 200);
  EXPECT_EQ(Discover(t), 401);
  std::string m = Fetch(port_, http::verb::get, "/metrics").body;
  EXPECT_NE(m.find(R"(sdoh_jwt_rejections_total{reason="jti"} 1)"), std::string::npos) << m;
}

// Issue 13 #13: a token not yet valid, issued in the future, or with a critical extension.
TEST_F(AuthServiceTest, NbfInTheFutureIs401) {
  std::string claims = R"({"iss":")" + kIssuer + R"(","aud":")" + kBase +
                       R"(/cds-services","exp":)" + std::to_string(Now() + 300) + R"(,"nbf":)" +
                       std::to_string(Now() + 200) + R"(,"jti":"j-nbf"})";
  ExpectRejected(Token(R"({"alg":"RS384","kid":"rsa-1","typ":"JWT"})", claims, rsa_.get()), "nbf");
}

TEST_F(AuthServiceTest, IatADayAheadIs401) {
  std::string claims = R"({"iss":")" + kIssuer + R"(","aud":")" + kBase +
                       R"(/cds-services","exp":)" + std::to_string(Now() + 300) + R"(,"iat":)" +
                       std::to_string(Now() + 86400) + R"(,"jti":"j-iat"})";
  ExpectRejected(Token(R"({"alg":"ES384","kid":"ec-1","typ":"JWT"})", claims, ec_.get()), "iat");
}

TEST_F(AuthServiceTest, UnknownCritHeaderIs401) {
  ExpectRejected(Token(R"({"alg":"RS384","kid":"rsa-1","typ":"JWT","crit":["exp-ext"],)"
                       R"("exp-ext":true})",
                       Claims(kBase + "/cds-services", Now() + 300, "j-crit"), rsa_.get()),
                 "crit");
}

TEST_F(AuthServiceTest, TamperedSignatureIs401) {
  std::string t = Good(*ec_, "j-tamper");
  t[t.size() - 3] = t[t.size() - 3] == 'A' ? 'B' : 'A';
  ExpectRejected(t, "signature");
}

// Stop while a request is being handled: the response is still written (Connection: close),
// then the server ends and refuses new connections.
TEST(HttpServerDrainTest, StopFinishesInFlightRequest) {
  std::promise<void> entered, release;
  auto release_future = release.get_future().share();
  HttpServerOptions o;
  o.port = 0;
  HttpServer server(o, [&](const HttpRequest&) {
    entered.set_value();
    release_future.wait();
    return HttpResponse{200, "text/plain", "done", ""};
  });
  ASSERT_TRUE(server.Start().ok());
  uint16_t port = server.port();
  auto client =
      std::async(std::launch::async, [port] { return Fetch(port, http::verb::get, "/slow"); });
  entered.get_future().wait();
  server.Stop();
  release.set_value();
  Reply r = client.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "done");
  EXPECT_FALSE(r.keep_alive);
  server.Wait();
  EXPECT_THROW(Fetch(port, http::verb::get, "/healthz"), boost::system::system_error);
}

}  // namespace
}  // namespace sdoh::service

namespace sdoh::service {
namespace {

// The real command: serve on an ephemeral port, answer /healthz, then SIGTERM → exit code 0.
TEST(ServeCommandSignalTest, SigtermStopsTheServeCommand) {
  std::promise<uint16_t> listening;
  auto port_future = listening.get_future();
  auto run = std::async(std::launch::async, [&] {
    return RunServeCommand({"--no-auth", "--listen", "127.0.0.1:0"},
                           [&](uint16_t port) { listening.set_value(port); });
  });
  uint16_t port = port_future.get();
  EXPECT_EQ(Fetch(port, http::verb::get, "/healthz").status, 200);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  EXPECT_EQ(run.get(), 0);
}

}  // namespace
}  // namespace sdoh::service
