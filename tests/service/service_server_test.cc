// `serve` and `watch` against the real FHIR test server (label integration):
//  - patient-view with partial and with no prefetch: the rest is read from fhirServer and the
//    cards are the `run` flags (and ServiceRequest identifiers) for that patient; a server not
//    allow-listed or failing gives 412; the hook's bearer token is what the service sends;
//  - a subscription notification → exactly one ServiceRequest/Task/Flag, also when repeated;
//  - one owner per ledger: a second serve/watch exits 4, `run` exits 4 while it runs;
//  - SIGTERM during a pass: the pass finishes; a failpoint crash in a pass: a rerun writes
//    exactly the remainder;
//  - `check --subscribe` creates, then renews, one Subscription.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fhir/client/client_factory.h"
#include "fhir/datetime.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/service/cds_hooks.h"
#include "plugin/service/http_server.h"
#include "plugin/service/prefetch_fetcher.h"
#include "plugin/service/service_app.h"
#include "plugin/setup/pipeline.h"
#include "tests/support/server_samples.h"
#include "tests/support/test_support.h"

namespace sdoh::service {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using sdoh::test::Lines;
using sdoh::test::ReadFile;

const std::string kSource = SDOH_SOURCE_DIR;
const std::string kSystem = "urn:sdoh-bridge:referral";
const std::string kServicePath = std::string("/cds-services/") + kPatientViewServiceId;
const std::string kSecret = "n0tify-s3cret";

struct Reply {
  int status = 0;
  std::string body;
};

Reply Post(uint16_t port, const std::string& target, const std::string& body,
           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  net::io_context ioc;
  net::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  beast::error_code ec;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  return Reply{static_cast<int>(res.result_int()), res.body()};
}

rapidjson::Document Parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  return d;
}

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

// A child process (sdoh-bridge serve/watch) with its output in a file.
class Child {
 public:
  Child(const std::vector<std::string>& args, const fs::path& log,
        const std::vector<std::string>& env = {})
      : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      FILE* f = freopen(log.c_str(), "w", stdout);
      (void)f;
      dup2(fileno(stdout), fileno(stderr));
      std::vector<char*> argv;
      std::string bin = SDOH_BRIDGE_BIN;
      argv.push_back(bin.data());
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string Output() const { return ReadFile(log_); }
  // Waits (bounded, only so a broken build cannot hang the suite) until the output holds `text`
  // `times` times, or the child has exited.
  bool WaitFor(const std::string& text, int times = 1) {
    for (int i = 0; i < 1200; ++i) {
      std::string out = Output();
      int n = 0;
      for (size_t p = out.find(text); p != std::string::npos; p = out.find(text, p + 1)) ++n;
      if (n >= times) return true;
      if (Exited()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  bool Exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      pid_ = -1;
      return true;
    }
    return false;
  }
  int Terminate() {
    if (pid_ > 0) kill(pid_, SIGTERM);
    return Wait();
  }
  int Wait() {
    if (pid_ > 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      pid_ = -1;
    }
    return code_;
  }
  uint16_t ListeningPort() {
    if (!WaitFor("listening on 127.0.0.1:")) return 0;
    std::string out = Output();
    size_t p = out.find("listening on 127.0.0.1:") + std::string("listening on 127.0.0.1:").size();
    return static_cast<uint16_t>(std::stoi(out.substr(p)));
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int code_ = -1;
};

class ServiceServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    out_ = sdoh::test::FreshTestDir(
        "sdoh-svc-out", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(out_, ec);
  }

  // Sample resources (their ids kept) of `types`, only those of `patients` when given.
  void Load(const std::vector<std::string>& types, const std::set<std::string>& patients = {}) {
    std::string failed = sdoh::test::LoadSamples(*client_.fhir, kSource, types, patients);
    ASSERT_TRUE(failed.empty()) << failed;
  }
  void LoadAll() { Load({"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}); }

  // A config: the default one with absolute paths, the server as source, out_ as out, and the
  // test's own `watch:` section.
  std::string WriteConfig(const std::string& extra_yaml) {
    std::string text = ReadFile(kSource + "/config/sdoh-bridge.yaml");
    auto replace = [&](const std::string& from, const std::string& to) {
      size_t p = text.find(from);
      ASSERT_NE(p, std::string::npos) << from;
      text.replace(p, from.size(), to);
    };
    replace("source: ../samples", "source: " + server_.base_url());
    replace("out: ../out", "out: " + out_.string());
    replace("mappings: ../mappings", "mappings: " + kSource + "/mappings");
    replace("- rules/", "- " + kSource + "/config/rules/");
    std::string path = (out_ / "cfg.yaml").string();
    std::ofstream(path) << text << extra_yaml;
    return path;
  }

  int RunCli(const std::string& args, std::string* output = nullptr, const std::string& env = "") {
    sdoh::test::CliResult r = sdoh::test::RunBinary(env + " " + SDOH_BRIDGE_BIN, args);
    if (output) *output = r.output;
    return r.exit_code;
  }

  // identifier → live (not entered-in-error) resources of `type` with it.
  std::map<std::string, int> Live(const std::string& type, const std::string& patient = "") {
    std::map<std::string, int> out;
    fhir::client::Params params{{"_count", "1000"}};
    if (!patient.empty()) params.emplace_back("subject", "Patient/" + patient);
    auto pager = client_.fhir->Pages(type, params);
    while (true) {
      auto more = pager.Next();
      EXPECT_TRUE(more.ok()) << more.error().ToString();
      if (!more.ok() || !more.value()) break;
      if (!pager.page().HasMember("entry")) continue;
      for (const auto& e : pager.page()["entry"].GetArray()) {
        const auto& r = e["resource"];
        if (std::string(r["status"].GetString()) == "entered-in-error") continue;
        if (!r.HasMember("identifier")) continue;
        for (const auto& id : r["identifier"].GetArray()) {
          if (id.HasMember("system") && id["system"].GetString() == kSystem) {
            ++out[id["value"].GetString()];
          }
        }
      }
    }
    return out;
  }
  // What `run` plans, from its NDJSON outputs.
  std::set<std::string> Planned(const fs::path& out, const std::string& type) {
    std::set<std::string> ids;
    for (const auto& l : Lines(ReadFile(out / (type + ".ndjson")))) {
      ids.insert(Parse(l)["identifier"][0]["value"].GetString());
    }
    return ids;
  }
  void ExpectExactlyThePlan(const fs::path& planned_out) {
    for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
      auto live = Live(t);
      std::set<std::string> have;
      for (const auto& [id, n] : live) {
        EXPECT_EQ(n, 1) << t << " " << id << " duplicated";
        have.insert(id);
      }
      EXPECT_EQ(have, Planned(planned_out, t)) << t;
    }
  }

  test::FhirServerProcess server_{kSource};
  fhir::client::Client client_;
  fs::path out_;
};

// ---- patient-view: missing prefetch read from fhirServer -------------------------------------

class PrefetchFetchTest : public ServiceServerTest {
 protected:
  void SetUp() override {
    ServiceServerTest::SetUp();
    if (IsSkipped()) return;
    LoadAll();
    auto p = LoadPipeline(DefaultConfigPath());
    ASSERT_TRUE(p.ok()) << p.status().message();
    pipeline_ = std::make_shared<const Pipeline>(std::move(*p));
    PrefetchFetcherOptions fo;
    fo.allowed_servers = {server_.base_url()};
    ServiceSettings s;
    s.no_auth = true;
    s.fetcher = std::make_shared<PrefetchFetcher>(fo, pipeline_->catalog.get());
    app_ = std::make_shared<ServiceApp>(pipeline_, s);
    HttpServerOptions ho;
    ho.port = 0;
    auto app = app_;
    http_ =
        std::make_unique<HttpServer>(ho, AsyncHttpHandler([app](HttpRequest r, HttpResponder f) {
                                       app->HandleAsync(std::move(r), std::move(f));
                                     }));
    ASSERT_TRUE(http_->Start().ok());
    // What `run` decides for the same server data (dry run: nothing written anywhere).
    std::string output;
    ASSERT_EQ(RunCli("run --dry-run --full --config " + kSource + "/config/sdoh-bridge.yaml" +
                         " --source " + server_.base_url() + " --out " + out_.string(),
                     &output),
              0)
        << output;
  }
  void TearDown() override {
    http_.reset();
    app_.reset();
    ServiceServerTest::TearDown();
  }

  // need → ServiceRequest identifier of `run`'s plan for the patient (flags without one: "").
  std::map<std::string, std::string> RunFlags(const std::string& patient) {
    std::map<std::string, std::string> out;
    for (const auto& l : Lines(ReadFile(out_ / "flags.ndjson"))) {
      auto d = Parse(l);
      if (d["patient"].GetString() == "Patient/" + patient) out[d["flag"].GetString()] = "";
    }
    auto plan = Parse(ReadFile(out_ / "plan.json"));
    EXPECT_TRUE(plan.IsObject());
    for (const auto& r : plan["referrals"].GetArray()) {
      if (r["patient"].GetString() != "Patient/" + patient) continue;
      for (const auto& res : r["resources"].GetArray()) {
        if (std::string(res["type"].GetString()) == "ServiceRequest") {
          out[r["need"].GetString()] = res["identifier"].GetString();
        }
      }
    }
    return out;
  }
  std::map<std::string, std::string> CardFlags(const Reply& r) {
    std::map<std::string, std::string> out;
    EXPECT_EQ(r.status, 200) << r.body;
    auto d = Parse(r.body);
    if (!d.IsObject() || !d.HasMember("cards")) return out;
    for (const auto& card : d["cards"].GetArray()) {
      std::string summary = card["summary"].GetString();
      std::string need = summary.substr(13, summary.find(' ', 13) - 13);
      std::string id;
      if (card.HasMember("suggestions")) {
        id = card["suggestions"][0]["actions"][0]["resource"]["identifier"][0]["value"].GetString();
      }
      out[need] = id;
    }
    return out;
  }
  std::string Call(const std::string& patient, const std::string& prefetch,
                   const std::string& fhir_server, const std::string& token = "tok-1") {
    std::string body = R"({"hook":"patient-view","hookInstance":"h-1",)"
                       R"("context":{"userId":"Practitioner/x","patientId":")" +
                       patient + "\"}";
    if (!fhir_server.empty()) {
      body += R"(,"fhirServer":")" + fhir_server + R"(","fhirAuthorization":{"access_token":")" +
              token +
              R"(","token_type":"Bearer","expires_in":300,"scope":"patient/*.read",)"
              R"("subject":"sdoh-bridge"})";
    }
    if (!prefetch.empty()) body += R"(,"prefetch":)" + prefetch;
    return body + "}";
  }
  std::string ServerPatient(const std::string& id) {
    auto r = client_.fhir->Read("Patient", id);
    EXPECT_TRUE(r.ok());
    return ToJson(*r->body);
  }

  std::shared_ptr<const Pipeline> pipeline_;
  std::shared_ptr<ServiceApp> app_;
  std::unique_ptr<HttpServer> http_;
};

TEST_F(PrefetchFetchTest, PartialPrefetchFetchesTheRestAndCardsEqualTheRunFlags) {
  for (const std::string patient : {"pat01", "pat04", "pat05"}) {
    SCOPED_TRACE(patient);
    auto expected = RunFlags(patient);
    ASSERT_FALSE(expected.empty());
    std::string prefetch = R"({"patient":)" + ServerPatient(patient) +
                           R"(,"openReferrals":{"resourceType":"Bundle","type":"searchset"}})";
    Reply r = Post(http_->port(), kServicePath, Call(patient, prefetch, server_.base_url()));
    EXPECT_EQ(CardFlags(r), expected) << r.body;
  }
}

TEST_F(PrefetchFetchTest, NoPrefetchFetchesEverythingAndCardsEqualTheRunFlags) {
  for (const std::string patient : {"pat01", "pat03", "pat04"}) {
    SCOPED_TRACE(patient);
    auto expected = RunFlags(patient);
    ASSERT_FALSE(expected.empty());
    Reply r = Post(http_->port(), kServicePath, Call(patient, "", server_.base_url() + "/"));
    EXPECT_EQ(CardFlags(r), expected) << r.body;
  }
  std::string m = app_->metrics().Render();
  EXPECT_NE(m.find(R"(sdoh_cds_prefetch_fetches_total{outcome="ok"} 3)"), std::string::npos) << m;
}

// Issue 14 item 6: a PRAPARE panel → group → item prefetched with the one-level include (panel
// and groups only): the items are read from fhirServer and the cards equal `run`'s flags.
TEST_F(PrefetchFetchTest, ThreeLevelPrapareMissingItemsAreFetchedAndCardsEqualTheRunFlags) {
  auto expected = RunFlags("pat06");
  ASSERT_TRUE(expected.count("interpersonal-safety")) << "pat06 screens positive on PRAPARE";
  auto panel = client_.fhir->Read("Observation", "p06-prapare");
  ASSERT_TRUE(panel.ok());
  std::string entries = R"({"resource":)" + ToJson(*panel->body) + "}";
  for (const auto& m : (*panel->body)["hasMember"].GetArray()) {
    std::string id = std::string(m["reference"].GetString()).substr(12);
    auto group = client_.fhir->Read("Observation", id);
    ASSERT_TRUE(group.ok()) << id;
    entries += R"(,{"resource":)" + ToJson(*group->body) + "}";
  }
  std::string prefetch = R"({"patient":)" + ServerPatient("pat06") +
                         R"(,"qr":{"resourceType":"Bundle","type":"searchset","entry":[]})"
                         R"(,"obs":{"resourceType":"Bundle","type":"searchset","entry":[)" +
                         entries +
                         R"(]},"openReferrals":{"resourceType":"Bundle","type":"searchset"}})";
  Reply r = Post(http_->port(), kServicePath, Call("pat06", prefetch, server_.base_url()));
  EXPECT_EQ(CardFlags(r), expected) << r.body;
  // The same prefetch with no fhirServer to read from: 412, not a 200 with fewer cards.
  Reply alone = Post(http_->port(), kServicePath, Call("pat06", prefetch, ""));
  EXPECT_EQ(alone.status, 412) << alone.body;
}

TEST_F(PrefetchFetchTest, NoFhirServerOrNotAllowedOrFailingIs412) {
  EXPECT_EQ(Post(http_->port(), kServicePath, Call("pat01", "", "")).status, 412);
  Reply other = Post(http_->port(), kServicePath, Call("pat01", "", "http://127.0.0.1:9/fhir"));
  EXPECT_EQ(other.status, 412);
  EXPECT_NE(other.body.find("allow-list"), std::string::npos) << other.body;
  // An unknown patient: the read fails (404) → 412, naming the query, not the token.
  Reply missing = Post(http_->port(), kServicePath,
                       Call("no-such-patient", "", server_.base_url(), "secret-token-77"));
  EXPECT_EQ(missing.status, 412);
  EXPECT_NE(missing.body.find("Patient"), std::string::npos) << missing.body;
  EXPECT_EQ(missing.body.find("secret-token-77"), std::string::npos) << missing.body;
}

// The bearer token of fhirAuthorization is what reaches fhirServer (a recording stand-in
// server here: the FHIR test server has no auth).
TEST(PrefetchTokenTest, TheHookBearerTokenIsSentToFhirServer) {
  std::mutex mu;
  std::vector<std::string> seen;
  HttpServerOptions ho;
  ho.port = 0;
  HttpServer ehr(ho, [&](const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(r.authorization);
    return HttpResponse{401, "application/fhir+json", R"({"resourceType":"OperationOutcome"})", ""};
  });
  ASSERT_TRUE(ehr.Start().ok());
  const std::string base = "http://127.0.0.1:" + std::to_string(ehr.port()) + "/fhir";
  auto p = LoadPipeline(DefaultConfigPath());
  ASSERT_TRUE(p.ok());
  auto pipeline = std::make_shared<const Pipeline>(std::move(*p));
  PrefetchFetcherOptions fo;
  fo.allowed_servers = {base};
  fo.client.retry.max_attempts = 1;
  PrefetchFetcher fetcher(fo, pipeline->catalog.get());
  HookCall call;
  CdsResult error;
  ASSERT_TRUE(ParsePatientView(
      R"({"hook":"patient-view","context":{"patientId":"p1"},"fhirServer":")" + base +
          R"(","fhirAuthorization":{"access_token":"hook-token-42","token_type":"Bearer"}})",
      &call, &error));
  fhir::Status s = fetcher.Fetch(&call);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("hook-token-42"), std::string::npos) << s.message();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0], "Bearer hook-token-42");
}

// A graceful stop while a call waits for its fetch from fhirServer: the answer is still
// written (the fetch thread's response keeps the HTTP server's io_context alive).
TEST(PrefetchTokenTest, StopDuringAFetchStillAnswersTheCall) {
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<bool> first{true};
  HttpServerOptions ho;
  ho.port = 0;
  HttpServer ehr(ho, [&](const HttpRequest&) {
    if (first.exchange(false)) {
      entered.set_value();
      released.wait();
    }
    return HttpResponse{404, "application/fhir+json", R"({"resourceType":"OperationOutcome"})", ""};
  });
  ASSERT_TRUE(ehr.Start().ok());
  const std::string base = "http://127.0.0.1:" + std::to_string(ehr.port()) + "/fhir";
  auto p = LoadPipeline(DefaultConfigPath());
  ASSERT_TRUE(p.ok());
  auto pipeline = std::make_shared<const Pipeline>(std::move(*p));
  PrefetchFetcherOptions fo;
  fo.allowed_servers = {base};
  fo.client.retry.max_attempts = 1;
  ServiceSettings s;
  s.no_auth = true;
  s.fetcher = std::make_shared<PrefetchFetcher>(fo, pipeline->catalog.get());
  auto app = std::make_shared<ServiceApp>(pipeline, s);
  HttpServerOptions so;
  so.port = 0;
  HttpServer service(so, AsyncHttpHandler([app](HttpRequest r, HttpResponder f) {
                       app->HandleAsync(std::move(r), std::move(f));
                     }));
  ASSERT_TRUE(service.Start().ok());
  const std::string body = R"({"hook":"patient-view","context":{"patientId":"p1"},)"
                           R"("fhirServer":")" +
                           base + R"("})";
  auto call =
      std::async(std::launch::async, [&] { return Post(service.port(), kServicePath, body); });
  entered.get_future().wait();
  service.Stop();
  release.set_value();
  Reply r = call.get();
  EXPECT_EQ(r.status, 412) << r.body;  // answered (the stand-in EHR said 404)
  service.Wait();
}

// ---- notifications, the watch loop and ledger ownership -----------------------------------

std::string FullResourceNotification(const std::string& qr_json, const std::string& base) {
  auto qr = Parse(qr_json);
  std::string ref = std::string("QuestionnaireResponse/") + qr["id"].GetString();
  return R"({"resourceType":"Bundle","type":"history","entry":[{"resource":{"resourceType":)"
         R"("Parameters","parameter":[{"name":"subscription","valueReference":{"reference":")" +
         base +
         R"(/Subscription/s1"}},{"name":"topic","valueCanonical":"https://ehr.test/topic"},)"
         R"({"name":"status","valueCode":"active"},{"name":"type","valueCode":)"
         R"("event-notification"},{"name":"notification-event","part":[{"name":)"
         R"("event-number","valueString":"1"},{"name":"focus","valueReference":)"
         R"({"reference":")" +
         base + "/" + ref + R"("}}]}]}},{"fullUrl":")" + base + "/" + ref + R"(","resource":)" +
         qr_json + "}]}";
}

// The same for any resource (its resourceType and id).
std::string FullResourceEvent(const std::string& json, const std::string& base) {
  auto r = Parse(json);
  const std::string ref = std::string(r["resourceType"].GetString()) + "/" + r["id"].GetString();
  return R"({"resourceType":"Bundle","type":"history","entry":[{"resource":{"resourceType":)"
         R"("Parameters","parameter":[{"name":"type","valueCode":"event-notification"},)"
         R"({"name":"notification-event","part":[{"name":"focus","valueReference":)"
         R"({"reference":")" +
         base + "/" + ref + R"("}}]}]}},{"fullUrl":")" + base + "/" + ref + R"(","resource":)" +
         json + "}]}";
}

std::string SampleLine(const std::string& type, const std::string& id) {
  for (const auto& l : Lines(ReadFile(kSource + "/samples/" + type + ".ndjson"))) {
    if (l.find("\"id\":\"" + id + "\"") != std::string::npos) return l;
  }
  return "";
}

const char* kWatchYaml = "watch:\n  interval: 3600\n  notify_secret_env: SDOH_TEST_NOTIFY\n";

TEST_F(ServiceServerTest, NotificationWritesTheReferralOnceAlsoWhenRepeated) {
  Load({"Questionnaire", "Patient"}, {"pat03"});
  std::string config = WriteConfig(kWatchYaml);
  Child serve({"serve", "--config", config, "--no-auth", "--listen", "127.0.0.1:0"},
              out_ / "serve.log", {"SDOH_TEST_NOTIFY=" + kSecret});
  uint16_t port = serve.ListeningPort();
  ASSERT_NE(port, 0) << serve.Output();
  ASSERT_TRUE(serve.WaitFor("watch: pass 1 done")) << serve.Output();
  EXPECT_TRUE(Live("ServiceRequest").empty());

  // The screening arrives, then its notification.
  std::string qr = SampleLine("QuestionnaireResponse", "p03-hvs");
  ASSERT_FALSE(qr.empty());
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr, "").ok());
  auto stored = client_.fhir->Read("QuestionnaireResponse", "p03-hvs");
  ASSERT_TRUE(stored.ok());
  std::string note = FullResourceNotification(ToJson(*stored->body), server_.base_url());
  const std::pair<std::string, std::string> secret{"X-Sdoh-Notify-Secret", kSecret};
  EXPECT_EQ(Post(port, "/notify", note, {{"X-Sdoh-Notify-Secret", "wrong"}}).status, 401);
  Reply r = Post(port, "/notify", note, {secret});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(serve.WaitFor("watch: pass 2 done")) << serve.Output();
  EXPECT_NE(serve.Output().find("(notification; notified: Patient/pat03)"), std::string::npos)
      << serve.Output();
  for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
    auto live = Live(t, "pat03");
    ASSERT_EQ(live.size(), 1u) << t << "\n" << serve.Output();
    EXPECT_EQ(live.begin()->second, 1) << t;
  }
  auto before = std::make_tuple(Live("ServiceRequest"), Live("Task"), Live("Flag"));

  // The same notification again (a server retry): harmless.
  ASSERT_EQ(Post(port, "/notify", note, {secret}).status, 200);
  ASSERT_TRUE(serve.WaitFor("watch: pass 3 done")) << serve.Output();
  EXPECT_EQ(std::make_tuple(Live("ServiceRequest"), Live("Task"), Live("Flag")), before);
  EXPECT_EQ(serve.Terminate(), 0) << serve.Output();
}

// Issue 13 #13: a focus reference with a newline forged a log line. It is logged escaped, on
// the pass's own line.
TEST_F(ServiceServerTest, NotificationFocusWithANewlineCannotForgeALogLine) {
  Load({"Questionnaire", "Patient"}, {"pat03"});
  std::string config = WriteConfig(kWatchYaml);
  Child serve({"serve", "--config", config, "--no-auth", "--listen", "127.0.0.1:0"},
              out_ / "serve.log", {"SDOH_TEST_NOTIFY=" + kSecret});
  uint16_t port = serve.ListeningPort();
  ASSERT_NE(port, 0) << serve.Output();
  ASSERT_TRUE(serve.WaitFor("watch: pass 1 done")) << serve.Output();
  const std::string note =
      R"({"resourceType":"Bundle","type":"history","entry":[{"resource":{)"
      R"("resourceType":"SubscriptionStatus","type":"event-notification","notificationEvent":[)"
      R"({"focus":{"reference":"Patient/pat03\nwatch: pass 77 done, exit code 0 (ok)\u001b[2J"}}]}}]})";
  Reply r = Post(port, "/notify", note, {{"X-Sdoh-Notify-Secret", kSecret}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(serve.WaitFor("watch: pass 2 done")) << serve.Output();
  const std::string out = serve.Output();
  EXPECT_EQ(out.find("\nwatch: pass 77"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  EXPECT_NE(out.find("notified: Patient/pat03\\x0awatch: pass 77 done, exit code 0 (ok)\\x1b[2J)"),
            std::string::npos)
      << out;
  EXPECT_EQ(serve.Terminate(), 0) << serve.Output();
}

Reply Get(uint16_t port, const std::string& target) {
  net::io_context ioc;
  net::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  beast::error_code ec;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  return Reply{static_cast<int>(res.result_int()), res.body()};
}

// /readyz: ready while the FHIR server answers and the owned ledger is writable; "not ready"
// (503, naming the failed check, no data) once the FHIR server is gone.
TEST_F(ServiceServerTest, ReadyzChecksTheServerAndTheLedger) {
  Load({"Questionnaire", "Patient"}, {"pat03"});
  std::string config = WriteConfig(kWatchYaml);
  Child serve({"serve", "--config", config, "--no-auth", "--listen", "127.0.0.1:0"},
              out_ / "serve.log");
  uint16_t port = serve.ListeningPort();
  ASSERT_NE(port, 0) << serve.Output();
  Reply ready = Get(port, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find(R"("fhir_server":"ok")"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find(R"("ledger":"ok")"), std::string::npos) << ready.body;
  server_.Stop();
  Reply gone;
  for (int i = 0; i < 60; ++i) {  // the result is cached for a few seconds
    gone = Get(port, "/readyz");
    if (gone.status != 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(gone.status, 503) << gone.body;
  EXPECT_NE(gone.body.find(R"("fhir_server":"unreachable)"), std::string::npos) << gone.body;
  EXPECT_NE(gone.body.find(R"("ledger":"ok")"), std::string::npos) << gone.body;
  EXPECT_EQ(Get(port, "/healthz").status, 200);
  EXPECT_EQ(serve.Terminate(), 0) << serve.Output();
}

TEST_F(ServiceServerTest, OneOwnerPerLedgerAndRunRefusesWhileServeOwnsIt) {
  Load({"Questionnaire", "Patient", "QuestionnaireResponse"}, {"pat03"});
  std::string config = WriteConfig(kWatchYaml);
  Child serve({"serve", "--config", config, "--no-auth", "--listen", "127.0.0.1:0"},
              out_ / "serve.log");
  ASSERT_NE(serve.ListeningPort(), 0) << serve.Output();
  ASSERT_TRUE(serve.WaitFor("watch: pass 1 done")) << serve.Output();

  std::string output;
  EXPECT_EQ(RunCli("watch --config " + config, &output), 4) << output;
  EXPECT_NE(output.find("already owns the ledger"), std::string::npos) << output;
  EXPECT_NE(output.find("sdoh-bridge serve (pid"), std::string::npos) << output;
  EXPECT_EQ(RunCli("serve --no-auth --listen 127.0.0.1:0 --config " + config, &output), 4)
      << output;
  EXPECT_EQ(RunCli("run --config " + config, &output), 4) << output;
  EXPECT_NE(output.find("owns the ledger"), std::string::npos) << output;

  EXPECT_EQ(serve.Terminate(), 0) << serve.Output();
  EXPECT_EQ(RunCli("run --config " + config, &output), 0) << output;
  for (const char* t : {"ServiceRequest", "Task", "Flag"}) EXPECT_EQ(Live(t).size(), 1u) << t;
}

TEST_F(ServiceServerTest, SigtermDuringAPassLetsItFinishAndARerunWritesNothingMore) {
  LoadAll();
  std::string config = WriteConfig(kWatchYaml);
  Child watch({"watch", "--config", config}, out_ / "watch.log");
  ASSERT_TRUE(watch.WaitFor("watch: pass 1 started")) << watch.Output();
  EXPECT_EQ(watch.Terminate(), 0) << watch.Output();
  std::string log = watch.Output();
  // Whenever the signal landed, the pass that had started ran to its end.
  EXPECT_NE(log.find("watch: pass 1 done, exit code 0"), std::string::npos) << log;
  EXPECT_EQ(log.find("watch: pass 2"), std::string::npos) << log;
  // The rerun (full, same ledger) finds the ledger consistent and the server holds exactly
  // its plan, each resource once.
  std::string output;
  ASSERT_EQ(RunCli("run --full --config " + config, &output), 0) << output;
  ExpectExactlyThePlan(out_);
}

TEST_F(ServiceServerTest, CrashInAWatchPassThenRunWritesExactlyTheRemainder) {
  LoadAll();
  std::string config = WriteConfig(kWatchYaml);
  Child watch({"watch", "--config", config}, out_ / "watch.log",
              {"SDOH_FAILPOINT=between-batches:3"});
  EXPECT_EQ(watch.Wait(), 86) << watch.Output();  // died mid-pass, as kill -9 would
  size_t written = Live("ServiceRequest").size();
  EXPECT_GT(written, 0u);
  // A new owner may start at once (the flock died with the process); run does the rest.
  std::string output;
  ASSERT_EQ(RunCli("run --full --config " + config, &output), 0) << output;
  ExpectExactlyThePlan(out_);
  EXPECT_GT(Planned(out_, "ServiceRequest").size(), written);
}

TEST_F(ServiceServerTest, CheckSubscribeCreatesThenRenewsOneSubscription) {
  std::string config =
      WriteConfig(std::string(kWatchYaml) +
                  "  subscription:\n    endpoint: https://sdoh.test/notify\n"
                  "    topic: https://ehr.test/SubscriptionTopic/sdoh-screening\n"
                  "    payload: id-only\n"
                  "    filter_criteria: [\"QuestionnaireResponse?status=completed\"]\n");
  std::string output;
  ASSERT_EQ(RunCli("check --subscribe --config " + config, &output), 2) << output;  // no secret
  const std::string env = "SDOH_TEST_NOTIFY=" + kSecret;
  ASSERT_EQ(RunCli("check --subscribe --config " + config, &output, env), 0) << output;
  EXPECT_NE(output.find("Subscription: created"), std::string::npos) << output;
  EXPECT_EQ(output.find(kSecret), std::string::npos) << output;
  ASSERT_EQ(RunCli("check --subscribe --config " + config, &output, env), 0) << output;
  EXPECT_NE(output.find("Subscription: renewed"), std::string::npos) << output;
  auto found = client_.fhir->Search("Subscription", {{"_count", "100"}});
  ASSERT_TRUE(found.ok());
  ASSERT_EQ((*found->body)["entry"].Size(), 1u);
  const auto& sub = (*found->body)["entry"][0]["resource"];
  EXPECT_STREQ(sub["meta"]["versionId"].GetString(), "2");
  EXPECT_STREQ(sub["channel"]["type"].GetString(), "rest-hook");
  EXPECT_STREQ(sub["criteria"].GetString(), "https://ehr.test/SubscriptionTopic/sdoh-screening");
}

// Issue 15 item 1: with `task_topic`, check --subscribe also keeps a Subscription on our
// referral Tasks (filter Task?identifier=<system>|), created then renewed like the first.
TEST_F(ServiceServerTest, CheckSubscribeWithATaskTopicAlsoSubscribesToOurReferralTasks) {
  std::string config =
      WriteConfig(std::string(kWatchYaml) +
                  "  subscription:\n    endpoint: https://sdoh.test/notify\n"
                  "    topic: https://ehr.test/SubscriptionTopic/sdoh-screening\n"
                  "    task_topic: https://ehr.test/SubscriptionTopic/task-changed\n");
  const std::string env = "SDOH_TEST_NOTIFY=" + kSecret;
  std::string output;
  ASSERT_EQ(RunCli("check --subscribe --config " + config, &output, env), 0) << output;
  ASSERT_EQ(RunCli("check --subscribe --config " + config, &output, env), 0) << output;
  auto found = client_.fhir->Search("Subscription", {{"_count", "100"}});
  ASSERT_TRUE(found.ok());
  ASSERT_EQ((*found->body)["entry"].Size(), 2u) << output;
  std::map<std::string, std::string> by_topic;  // criteria → its filter
  for (const auto& e : (*found->body)["entry"].GetArray()) {
    const auto& sub = e["resource"];
    EXPECT_STREQ(sub["meta"]["versionId"].GetString(), "2") << "renewed, not duplicated";
    std::string filter;
    if (sub.HasMember("_criteria")) filter = ToJson(sub["_criteria"]);
    by_topic[sub["criteria"].GetString()] = filter;
  }
  ASSERT_EQ(by_topic.count("https://ehr.test/SubscriptionTopic/task-changed"), 1u);
  EXPECT_NE(by_topic["https://ehr.test/SubscriptionTopic/task-changed"].find(
                "\"valueString\":\"Task?identifier=" + kSystem + "|\""),
            std::string::npos)
      << by_topic["https://ehr.test/SubscriptionTopic/task-changed"];
  EXPECT_EQ(by_topic.count("https://ehr.test/SubscriptionTopic/sdoh-screening"), 1u);
}

// Issue 15 item 1 through /notify: the performer rejects a referral Task and the server
// notifies (Task event, full resource) — the pass it wakes records the rejection and writes
// the one follow-up; the same notification delivered again writes nothing more. A second
// rejection whose notification is lost is caught by the next pass whatever woke it (the
// loop polls Task?identifier=…&_lastUpdated=gt<cursor>): still exactly one follow-up each.
TEST_F(ServiceServerTest, TaskNotificationsTwiceOrLostLeaveExactlyOneFollowUpEach) {
  Load({"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}, {"pat01", "pat03"});
  std::string config = WriteConfig(kWatchYaml);
  Child serve({"serve", "--config", config, "--no-auth", "--listen", "127.0.0.1:0"},
              out_ / "serve.log", {"SDOH_TEST_NOTIFY=" + kSecret});
  uint16_t port = serve.ListeningPort();
  ASSERT_NE(port, 0) << serve.Output();
  ASSERT_TRUE(serve.WaitFor("watch: pass 1 done")) << serve.Output();
  std::vector<std::pair<std::string, std::string>> tasks;  // (identifier, id)
  auto all = client_.fhir->Search("Task", {{"_count", "1000"}});
  ASSERT_TRUE(all.ok());
  for (const auto& e : (*all->body)["entry"].GetArray()) {
    const auto& r = e["resource"];
    for (const auto& id : r["identifier"].GetArray()) {
      std::string v = id["value"].GetString();
      if (v.rfind("task-", 0) == 0) tasks.emplace_back(v, r["id"].GetString());
    }
  }
  ASSERT_GE(tasks.size(), 2u) << serve.Output();
  std::sort(tasks.begin(), tasks.end());
  auto reject = [&](const std::string& id) {
    auto read = client_.fhir->Read("Task", id);
    EXPECT_TRUE(read.ok());
    rapidjson::Document d;
    d.CopyFrom(*read->body, d.GetAllocator());
    d["status"].SetString("rejected");
    d.RemoveMember("meta");
    rapidjson::Value reason(rapidjson::kObjectType);
    reason.AddMember("text", "No capacity", d.GetAllocator());
    d.AddMember("statusReason", reason, d.GetAllocator());
    EXPECT_TRUE(client_.fhir->Update("Task", id, ToJson(d), "").ok());
    auto now = client_.fhir->Read("Task", id);
    return now.ok() ? ToJson(*now->body) : std::string();
  };
  auto follow_ups = [&] {
    std::map<std::string, int> m;
    for (const auto& [id, n] : Live("Task")) {
      if (id.rfind("followup-", 0) == 0) m[id] = n;
    }
    return m;
  };
  const std::pair<std::string, std::string> secret{"X-Sdoh-Notify-Secret", kSecret};
  const std::string first = reject(tasks[0].second);
  const std::string note = FullResourceEvent(first, server_.base_url());
  ASSERT_EQ(Post(port, "/notify", note, {secret}).status, 200);
  ASSERT_TRUE(serve.WaitFor("watch: pass 2 done")) << serve.Output();
  EXPECT_NE(serve.Output().find("(notification; notified: Patient/"), std::string::npos)
      << serve.Output();
  const std::string fu0 = sdoh::FollowUpIdentifier(tasks[0].first, "rejected");
  EXPECT_EQ(follow_ups(), (std::map<std::string, int>{{fu0, 1}})) << serve.Output();

  // Delivered again: nothing more.
  ASSERT_EQ(Post(port, "/notify", note, {secret}).status, 200);
  ASSERT_TRUE(serve.WaitFor("watch: pass 3 done")) << serve.Output();
  EXPECT_EQ(follow_ups(), (std::map<std::string, int>{{fu0, 1}}));

  // Lost: the second rejection is never notified; the next pass (woken by the first Task's
  // notification once more) finds it by polling.
  reject(tasks[1].second);
  ASSERT_EQ(Post(port, "/notify", note, {secret}).status, 200);
  ASSERT_TRUE(serve.WaitFor("watch: pass 4 done")) << serve.Output();
  const std::string fu1 = sdoh::FollowUpIdentifier(tasks[1].first, "rejected");
  EXPECT_EQ(follow_ups(), (std::map<std::string, int>{{fu0, 1}, {fu1, 1}})) << serve.Output();
  EXPECT_EQ(serve.Terminate(), 0) << serve.Output();
}

// Issue 14 item 7: a clinician overrides the food card with `patient-declined`. The override
// is kept in the ledger file, so the next `run` (another process) writes no food
// ServiceRequest or Task — the chart Flag stays — while the other needs are referred; the next
// card says so and suggests nothing; explain shows it. Before: the run posted the referral.
TEST_F(ServiceServerTest, PatientDeclinedFeedbackSuppressesTheNextPassesReferral) {
  Load({"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}, {"pat01", "pat03"});
  std::string config = WriteConfig("");
  Child serve({"serve", "--config", config, "--no-auth", "--listen", "127.0.0.1:0"},
              out_ / "serve.log");
  uint16_t port = serve.ListeningPort();
  ASSERT_NE(port, 0) << serve.Output();
  const std::string call =
      R"({"hook":"patient-view","hookInstance":"h-7","context":{"userId":"Practitioner/x",)"
      R"("patientId":"pat01"},"fhirServer":")" +
      server_.base_url() + R"("})";
  // need → (card uuid, ServiceRequest identifier its suggestion would create)
  auto cards = [&](const Reply& r) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    EXPECT_EQ(r.status, 200) << r.body;
    auto d = Parse(r.body);
    if (!d.IsObject() || !d.HasMember("cards")) return out;
    for (const auto& card : d["cards"].GetArray()) {
      std::string summary = card["summary"].GetString();
      std::string sr;
      if (card.HasMember("suggestions")) {
        sr = card["suggestions"][0]["actions"][0]["resource"]["identifier"][0]["value"].GetString();
      }
      out[summary.substr(13, summary.find(' ', 13) - 13)] = {card["uuid"].GetString(), sr};
    }
    return out;
  };
  Reply first = Post(port, kServicePath, call);
  auto before = cards(first);
  ASSERT_TRUE(before.count("food")) << first.body;
  ASSERT_FALSE(before["food"].second.empty()) << "food suggests a referral: " << first.body;
  ASSERT_TRUE(before.count("housing-instability")) << first.body;

  const std::string now = fhir::FormatInstantUtc(fhir::NowMicros());
  const std::string feedback =
      R"({"feedback":[{"card":")" + before["food"].first +
      R"(","outcome":"overridden","outcomeTimestamp":")" + now +
      R"(","overrideReason":{"reason":{"system":"urn:sdoh-bridge:cds-override-reason",)"
      R"("code":"patient-declined"}}}]})";
  Reply fb = Post(port, kServicePath + "/feedback", feedback);
  ASSERT_EQ(fb.status, 200) << fb.body;

  std::string output;
  ASSERT_EQ(RunCli("run --full --config " + config, &output), 0) << output;
  EXPECT_NE(output.find("no referral  1  declined"), std::string::npos) << output;
  auto srs = Live("ServiceRequest", "pat01");
  EXPECT_EQ(srs.count(before["food"].second), 0u) << "the declined referral was written";
  EXPECT_EQ(srs.count(before["housing-instability"].second), 1u) << "other needs still referred";
  EXPECT_FALSE(Live("ServiceRequest", "pat03").empty()) << "other patients still referred";
  EXPECT_EQ(Live("Flag", "pat01").count(FlagIdentifier("pat01", "food")), 1u)
      << "the chart Flag stays";
  for (const auto& [id, n] : Live("Task", "pat01")) {
    EXPECT_EQ(id.find(before["food"].second.substr(3)), std::string::npos) << id;
  }

  // The next card for the declined need suggests nothing and says why.
  Reply again = Post(port, kServicePath, call);
  auto after = cards(again);
  ASSERT_TRUE(after.count("food")) << again.body;
  EXPECT_TRUE(after["food"].second.empty()) << again.body;
  EXPECT_NE(again.body.find("declined (patient-declined)"), std::string::npos) << again.body;
  // housing-instability's referral is open now (written by the run): its card says that, not
  // "declined".
  ASSERT_TRUE(after.count("housing-instability")) << again.body;
  size_t declined = 0;
  for (size_t p = again.body.find("declined ("); p != std::string::npos;
       p = again.body.find("declined (", p + 1)) {
    ++declined;
  }
  EXPECT_EQ(declined, 1u) << "only the declined need: " << again.body;

  // explain reads the same ledger.
  ASSERT_EQ(RunCli("explain --config " + config + " --patient pat01", &output), 0) << output;
  EXPECT_NE(output.find("food: declined through CDS feedback (patient-declined)"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("overridden (patient-declined)"), std::string::npos) << output;
  // A rerun writes nothing more.
  auto live = Live("ServiceRequest");
  ASSERT_EQ(RunCli("run --full --config " + config, &output), 0) << output;
  EXPECT_EQ(Live("ServiceRequest"), live);
  EXPECT_EQ(serve.Terminate(), 0) << serve.Output();
}

}  // namespace
}  // namespace sdoh::service
