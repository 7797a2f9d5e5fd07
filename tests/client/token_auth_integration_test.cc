// SMART Backend Services auth end to end: the client's private_key_jwt assertions checked by an
// independent verifier (tests/fhir-server/token-server.mjs, npm jose), tokens enforced by the
// fault proxy in front of the real FHIR test server, renewal across short-lived tokens during a
// paged search, and the token kept away from a second host named in a `next` link.
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "fhir/client/client_factory.h"
#include "fhir/client/fhir_client.h"
#include "fhir/client/url.h"
#include "fhir/json.h"
#include "tests/client/fault_proxy.h"
#include "tests/client/fhir_server_env.h"
#include "tests/client/key_util.h"
#include "tests/client/token_server_env.h"

namespace fhir::client {
namespace {

using std::chrono::milliseconds;
using testing::Cue;
using testing::Fault;
using testing::FaultProxy;
using testing::FaultProxyOptions;

// Records requested delays; never sleeps.
class RecordingSleeper : public Sleeper {
 public:
  void Sleep(milliseconds d) override {
    std::lock_guard<std::mutex> lock(mu_);
    delays.push_back(d);
  }
  std::vector<milliseconds> delays;

 private:
  std::mutex mu_;
};

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

// Registers the public halves of `keys` for `client_id` with the token server.
void RegisterClient(const testing::TokenTestServer& tokens, const std::string& client_id,
                    const std::vector<SigningKey>& keys) {
  std::string list;
  for (const SigningKey& k : keys) {
    if (!list.empty()) list += ",";
    list += "{\"kid\":\"" + k.kid() + "\",\"alg\":\"" + std::string(JwsAlgName(k.alg())) +
            "\",\"pem\":\"" + JsonEscape(k.PublicKeyPem()) + "\"}";
  }
  std::ofstream(tokens.clients_file())
      << "{\"clients\":{\"" << client_id << "\":{\"keys\":[" << list << "]}}}\n";
}

SigningKey NewKey(JwsAlg alg, const std::string& kid) {
  return SigningKey::FromPem(testing::GeneratePrivateKeyPem(alg), alg, kid).value();
}

// The FHIR test server behind a token-enforcing proxy; a client with OAuth against it.
struct AuthRig {
  std::shared_ptr<RecordingSleeper> sleeper = std::make_shared<RecordingSleeper>();
  std::shared_ptr<RetryingTransport> retrying;
  std::shared_ptr<OAuthTokenProvider> auth;
  std::shared_ptr<FhirClient> client;

  AuthRig(const std::string& base, const std::string& token_url, const std::string& client_id,
          std::vector<SigningKey> keys) {
    RetryOptions r;
    r.base_delay = milliseconds(10);
    retrying = std::make_shared<RetryingTransport>(
        std::make_shared<CurlTransport>(CurlTransportOptions{}), r, std::make_shared<SystemClock>(),
        sleeper, std::make_shared<SeededRandom>(7));
    OAuthOptions o;
    o.token_url = token_url;
    o.client_id = client_id;
    o.scope = "system/Patient.rs";
    o.keys = std::move(keys);
    auth = std::make_shared<OAuthTokenProvider>(o, retrying);
    FhirClientOptions fo;
    fo.base_url = base;
    client = std::make_shared<FhirClient>(fo, retrying, auth);
  }
};

uint16_t PortOf(const std::string& root_url) {
  return static_cast<uint16_t>(std::stoi(root_url.substr(root_url.rfind(':') + 1)));
}

#define REQUIRE_AUTH_PROXY()                                \
  REQUIRE_TOKEN_SERVER();                                   \
  FaultProxyOptions proxy_options;                          \
  proxy_options.upstream_port = PortOf(server->root_url()); \
  proxy_options.introspect_port = tokens->port();           \
  FaultProxy proxy(proxy_options);                          \
  ASSERT_TRUE(proxy.error().empty()) << proxy.error();      \
  const std::string base = proxy.origin() + "/fhir"

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  return d;
}

int SeedPatients(const std::string& direct_base, int n) {
  std::string entries;
  for (int i = 0; i < n; ++i) {
    if (!entries.empty()) entries += ",";
    entries += R"({"resource":{"resourceType":"Patient","name":[{"family":"Paged)" +
               std::to_string(i) + R"("}]},"request":{"method":"POST","url":"Patient"}})";
  }
  auto retrying =
      std::make_shared<RetryingTransport>(std::make_shared<CurlTransport>(CurlTransportOptions{}),
                                          RetryOptions{}, nullptr, nullptr, nullptr);
  FhirClientOptions o;
  o.base_url = direct_base;
  FhirClient direct(o, retrying, nullptr);
  ClientResult<BundleResult> r = direct.Transaction(
      R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}");
  return r.ok() ? static_cast<int>(r->entries.size()) : -1;
}

TEST(TokenAuthIntegrationTest, Rs384AndEs384AssertionsAreAcceptedByAnIndependentVerifier) {
  REQUIRE_AUTH_PROXY();
  for (JwsAlg alg : {JwsAlg::kRS384, JwsAlg::kES384}) {
    const std::string kid = std::string(JwsAlgName(alg)) + "-key";
    SigningKey key = NewKey(alg, kid);
    RegisterClient(*tokens, "bridge", {key});
    AuthRig rig(base, tokens->token_url(), "bridge", {key});
    ClientResult<Response> r = rig.client->Search("Patient", {{"_count", "1"}});
    ASSERT_TRUE(r.ok()) << JwsAlgName(alg) << ": " << r.error().ToString() << "\n"
                        << tokens->Stats();
    EXPECT_EQ(rig.auth->renewals(), 1u);
    std::vector<testing::SeenRequest> seen = proxy.Seen();
    ASSERT_FALSE(seen.empty());
    EXPECT_TRUE(seen.back().Header("Authorization").starts_with("Bearer "));
    EXPECT_EQ(seen.back().status, 200);
  }
  rapidjson::Document stats = Parse(tokens->Stats());
  ASSERT_TRUE(stats.IsObject());
  EXPECT_EQ(stats["issued"].GetInt(), 2);
  EXPECT_EQ(stats["rejected"].Size(), 0u);
  ASSERT_EQ(stats["verified"].Size(), 2u);
  EXPECT_EQ(json::StrMember(stats["verified"][0], "alg"), "RS384");
  EXPECT_EQ(json::StrMember(stats["verified"][0], "kid"), "RS384-key");
  EXPECT_EQ(json::StrMember(stats["verified"][1], "alg"), "ES384");
  EXPECT_EQ(json::StrMember(stats["verified"][1], "client_id"), "bridge");
  EXPECT_EQ(proxy.CountStatus(401), 0);
}

// Token endpoint discovered from [base]/.well-known/smart-configuration (served through the
// proxy, without a credential), then used: the factory's wiring end to end.
TEST(TokenAuthIntegrationTest, BuildClientDiscoversTheTokenEndpoint) {
  REQUIRE_AUTH_PROXY();
  const std::string key_file = tokens->clients_file() + ".key.pem";
  std::ofstream(key_file) << testing::GeneratePrivateKeyPem(JwsAlg::kES384);
  RegisterClient(*tokens, "bridge",
                 {SigningKey::FromPemFile(key_file, JwsAlg::kES384, "disc").value()});
  ClientConfig config;
  config.base_url = base;
  config.auth.type = "smart_backend";
  config.auth.client_id = "bridge";
  config.auth.scope = "system/Patient.rs";
  config.auth.keys.push_back(KeyConfig{key_file, "disc", "ES384"});
  ClientResult<Client> c = BuildClient(config);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  ClientResult<Response> r = c->fhir->Search("Patient", {{"_count", "1"}});
  std::filesystem::remove(key_file);
  ASSERT_TRUE(r.ok()) << r.error().ToString() << "\n" << tokens->Stats();
  EXPECT_EQ(proxy.Count("GET", "/.well-known/smart-configuration"), 1);
  for (const testing::SeenRequest& s : proxy.Seen()) {
    if (s.target.find("smart-configuration") != std::string::npos) {
      EXPECT_EQ(s.Header("Authorization"), "");
    }
  }
}

TEST(TokenAuthIntegrationTest, ReplayedOrMisaddressedAssertionsAreRejected) {
  REQUIRE_TOKEN_SERVER();
  SigningKey key = NewKey(JwsAlg::kES384, "k1");
  RegisterClient(*tokens, "bridge", {key, NewKey(JwsAlg::kRS384, "k2")});
  CurlTransport http(CurlTransportOptions{});
  auto post = [&](const std::string& assertion) {
    HttpRequest req;
    req.method = "POST";
    req.url = tokens->token_url();
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    req.body = EncodeParams(
        {{"grant_type", "client_credentials"},
         {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
         {"client_assertion", assertion}});
    return http.Send(req, milliseconds(10'000));
  };
  const auto now = std::chrono::system_clock::now();
  std::string jwt =
      MakeClientAssertion(key, "bridge", tokens->token_url(), now, std::chrono::seconds(300))
          .value();
  ClientResult<HttpResponse> first = post(jwt);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->status, 200) << first->body;
  ClientResult<HttpResponse> replay = post(jwt);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->status, 400);
  EXPECT_NE(replay->body.find("invalid_client"), std::string::npos) << replay->body;
  EXPECT_NE(replay->body.find("replay"), std::string::npos) << replay->body;

  std::string wrong_aud = MakeClientAssertion(key, "bridge", "http://elsewhere.test/token", now,
                                              std::chrono::seconds(60))
                              .value();
  ClientResult<HttpResponse> aud = post(wrong_aud);
  ASSERT_TRUE(aud.ok());
  EXPECT_EQ(aud->status, 400) << aud->body;
  EXPECT_NE(aud->body.find("aud"), std::string::npos) << aud->body;

  SigningKey stranger = NewKey(JwsAlg::kES384, "k1");  // same kid, unregistered key
  ClientResult<HttpResponse> forged = post(
      MakeClientAssertion(stranger, "bridge", tokens->token_url(), now, std::chrono::seconds(60))
          .value());
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, 400) << forged->body;

  // An ES384 signature under the kid registered for an RS384 key.
  SigningKey wrong_alg = NewKey(JwsAlg::kES384, "k2");
  ClientResult<HttpResponse> alg = post(
      MakeClientAssertion(wrong_alg, "bridge", tokens->token_url(), now, std::chrono::seconds(60))
          .value());
  ASSERT_TRUE(alg.ok());
  EXPECT_EQ(alg->status, 400) << alg->body;
  EXPECT_NE(alg->body.find("RS384"), std::string::npos) << alg->body;

  // exp more than 5 minutes ahead (signed "in the future"), and an expired assertion.
  for (auto at : {now + std::chrono::minutes(10), now - std::chrono::minutes(10)}) {
    ClientResult<HttpResponse> r =
        post(MakeClientAssertion(key, "bridge", tokens->token_url(), at, std::chrono::seconds(300))
                 .value());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("exp"), std::string::npos) << r->body;
  }

  rapidjson::Document stats = Parse(tokens->Stats());
  EXPECT_EQ(stats["issued"].GetInt(), 1);
  EXPECT_EQ(stats["rejected"].Size(), 6u) << tokens->Stats();
}

TEST(TokenAuthIntegrationTest, TheFrontRejectsMissingAndUnknownTokens) {
  REQUIRE_AUTH_PROXY();
  auto retrying = std::make_shared<RetryingTransport>(
      std::make_shared<CurlTransport>(CurlTransportOptions{}), RetryOptions{}, nullptr,
      std::make_shared<RecordingSleeper>(), nullptr);
  FhirClientOptions o;
  o.base_url = base;
  FhirClient anonymous(o, retrying, std::make_shared<NoAuth>());
  ClientResult<Response> r = anonymous.Search("Patient", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().http_status, 401);
  FhirClient forged(o, retrying, std::make_shared<BearerAuth>("not-a-token"));
  r = forged.Search("Patient", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_EQ(r.error().attempts, 1);
  EXPECT_EQ(proxy.CountStatus(401), 2);
  EXPECT_EQ(proxy.Count("", "/fhir/Patient", /*forwarded_only=*/true), 0);
}

// 30 Patients at 2 per page through tokens that live 2 s: the job (15 pages, 250 ms of real
// "work" after each) outlives at least two tokens, and the client renews 400 ms ahead of
// expiry, so not one request is refused, not even one the client would have retried.
TEST(TokenAuthIntegrationTest, PagedJobOutlivesSeveralTokensWithoutA401) {
  REQUIRE_AUTH_PROXY();
  ASSERT_TRUE(tokens->Reset(/*expires_in=*/2));
  ASSERT_EQ(SeedPatients(server->base_url(), 30), 30);
  SigningKey key = NewKey(JwsAlg::kRS384, "rs");
  RegisterClient(*tokens, "bridge", {key});
  AuthRig rig(base, tokens->token_url(), "bridge", {key});
  SearchPager pager = rig.client->Pages("Patient", {{"_count", "2"}});
  std::set<std::string> ids;
  for (int guard = 0; guard < 20; ++guard) {
    ClientResult<bool> more = pager.Next();
    ASSERT_TRUE(more.ok()) << "page " << pager.pages_read() + 1 << ": " << more.error().ToString();
    if (!more.value()) break;
    for (const rapidjson::Value& e : json::ArrayMember(pager.page(), "entry")->GetArray()) {
      ids.insert(std::string(json::StrMember(*json::Member(e, "resource"), "id")));
    }
    std::this_thread::sleep_for(milliseconds(250));  // the work done per page
  }
  EXPECT_EQ(pager.pages_read(), 15);
  EXPECT_EQ(ids.size(), 30u);
  rapidjson::Document stats = Parse(tokens->Stats());
  EXPECT_GT(stats["issued"].GetInt(), 1) << tokens->Stats();
  EXPECT_EQ(static_cast<int>(rig.auth->renewals()), stats["issued"].GetInt());
  EXPECT_EQ(stats["rejected"].Size(), 0u);
  EXPECT_EQ(proxy.CountStatus(401), 0) << "a request went out with an expired token";
  EXPECT_EQ(proxy.Count("GET", "/fhir/Patient"), 15);
}

// A next link naming another host: the pager refuses it, so the other host sees nothing; and
// a direct GET there goes without the Authorization header.
TEST(TokenAuthIntegrationTest, TokenNeverReachesASecondHostNamedInANextLink) {
  REQUIRE_AUTH_PROXY();
  ASSERT_EQ(SeedPatients(server->base_url(), 5), 5);
  FaultProxy other(FaultProxyOptions{});  // upstream 0: a recorder
  ASSERT_TRUE(other.error().empty()) << other.error();
  SigningKey key = NewKey(JwsAlg::kES384, "es");
  RegisterClient(*tokens, "bridge", {key});
  AuthRig rig(base, tokens->token_url(), "bridge", {key});
  for (const std::string& other_origin :
       {"http://localhost:" + std::to_string(other.port()), other.origin()}) {
    Cue cue;
    cue.fault = Fault::kNextLinkTo;
    cue.method = "GET";
    cue.path_contains = "/fhir/Patient";
    cue.other_origin = other_origin;
    proxy.AddCue(cue);
    SearchPager pager = rig.client->Pages("Patient", {{"_count", "2"}});
    ClientResult<bool> first = pager.Next();
    ASSERT_TRUE(first.ok()) << first.error().ToString();
    ASSERT_TRUE(BundleLink(pager.page(), "next").starts_with(other_origin));
    ClientResult<bool> second = pager.Next();
    ASSERT_FALSE(second.ok()) << other_origin;
    EXPECT_EQ(second.error().kind, ClientError::Kind::kPaging) << second.error().ToString();
  }
  EXPECT_TRUE(other.Seen().empty());

  ClientResult<Response> direct = rig.client->Get(other.origin() + "/fhir/Patient?_offset=2");
  EXPECT_FALSE(direct.ok());  // the recorder answers 404
  std::vector<testing::SeenRequest> seen = other.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("Authorization"), "");
  EXPECT_TRUE(proxy.Seen().back().Header("Authorization").starts_with("Bearer "));
}

}  // namespace
}  // namespace fhir::client
