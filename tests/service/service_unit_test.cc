// Pure parts of `serve` (label unit): --listen parsing, the `service:` and `watch:` YAML
// sections, feedback bodies, the JWKS loader's refusals, subscription notifications (parsing,
// the shared secret, /notify routing) and the watch loop (coalescing, backoff, stop).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>

#include "plugin/service/cds_hooks.h"
#include "plugin/service/feedback.h"
#include "plugin/service/jwt_verifier.h"
#include "plugin/service/notification.h"
#include "plugin/service/serve_command.h"
#include "plugin/service/service_app.h"
#include "plugin/service/subscription.h"
#include "plugin/service/watch_loop.h"

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

// Issue 13 #13: `threads: 20000`, `read_timeout_seconds: 0` and a negative leeway used to be
// accepted. Each out-of-range value is a config error naming file:line and the key.
TEST(ServeCommandTest, OutOfRangeValuesAreConfigErrorsWithFileAndLine) {
  std::string path = ::testing::TempDir() + "/service-ranges.yaml";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"threads: 20000", "service.threads"},
      {"threads: 0", "service.threads"},
      {"read_timeout_seconds: 0", "service.read_timeout_seconds"},
      {"write_timeout_seconds: -5", "service.write_timeout_seconds"},
      {"jwt_leeway_seconds: -1", "service.jwt_leeway_seconds"},
      {"max_connections: 0", "service.max_connections"},
      {"body_limit_bytes: 0", "service.body_limit_bytes"},
      {"fetch_threads: 100000", "service.fetch_threads"},
      {"feedback_max_outcomes: 0", "service.feedback_max_outcomes"},
      {"issued_cards_kept: -1", "service.issued_cards_kept"},
      {"hide_sensitive_from: [Patient/1]", "service.hide_sensitive_from"},
  };
  for (const auto& [line, key] : bad) {
    {
      std::ofstream out(path);
      out << "service:\n  listen: 127.0.0.1:0\n  " << line << "\n";
    }
    ServeOptions o;
    fhir::Status s = LoadServiceConfig(path, &o);
    ASSERT_FALSE(s.ok()) << line;
    EXPECT_NE(s.message().find(path + ":3: " + key + ": expected"), std::string::npos)
        << s.message();
  }
  {
    std::ofstream out(path);
    out << "service:\n  threads: 256\n  read_timeout_seconds: 1\n  jwt_leeway_seconds: 0\n"
           "  max_connections: 50\n  hide_sensitive_from: [RelatedPerson]\n"
           "  feedback_max_outcomes: 10\n";
  }
  ServeOptions o;
  ASSERT_TRUE(LoadServiceConfig(path, &o).ok());
  EXPECT_EQ(o.cards.hide_sensitive_from, std::vector<std::string>{"RelatedPerson"});
  EXPECT_EQ(o.feedback_max_outcomes, 10u);
  EXPECT_EQ(o.http.threads, 256);
  EXPECT_EQ(o.http.max_connections, 50u);
  std::remove(path.c_str());
}

TEST(ServeCommandTest, DefaultConnectionCapLeavesDescriptorsForTheProcess) {
  EXPECT_EQ(DefaultMaxConnections(48), 24u);
  EXPECT_EQ(DefaultMaxConnections(1024), 960u);
  EXPECT_EQ(DefaultMaxConnections(1u << 20), 10000u);
  EXPECT_GE(DefaultMaxConnections(2), 1u);
}

TEST(ServeCommandTest, HelpExitsZeroAndUnknownFlagIsUsageError) {
  EXPECT_EQ(RunServeCommand({"--help"}), 0);
  EXPECT_EQ(RunServeCommand({"--bogus"}), 2);
  EXPECT_EQ(RunServeCommand({"--listen"}), 2);
}

// CDS Hooks 2.0 feedback: outcomeTimestamp required, acceptedSuggestions required for
// accepted (issue 14 item 7); at most `max_outcomes` entries per POST (issue 13 #13).
TEST(FeedbackTest, ParseValidatesPerSpecAndIsBounded) {
  auto ok = ParseFeedback(
      R"({"feedback":[{"card":"a","outcome":"accepted","outcomeTimestamp":"2026-01-01T00:00:00Z",)"
      R"("acceptedSuggestions":[{"id":"s1"}]},{"card":"b","outcome":"overridden",)"
      R"("outcomeTimestamp":"2026-01-01T00:00:00Z","overrideReason":{"reason":{"code":)"
      R"("patient-declined","system":"urn:sdoh-bridge:cds-override-reason"}}}]})",
      100);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].accepted_suggestions, std::vector<std::string>{"s1"});
  EXPECT_EQ((*ok)[1].override_reason, "patient-declined");
  auto refused = [](const std::string& body, const std::string& why) {
    auto r = ParseFeedback(body, 2);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
  };
  refused(R"({"feedback":[{"card":"a","outcome":"maybe","outcomeTimestamp":"t"}]})", "outcome");
  refused(R"({"feedback":[{"outcome":"overridden","outcomeTimestamp":"t"}]})", "card");
  refused(R"({"feedback":[{"card":"a","outcome":"overridden"}]})", "outcomeTimestamp");
  refused(R"({"feedback":[{"card":"a","outcome":"accepted",)"
          R"("outcomeTimestamp":"2026-01-01T00:00:00Z"}]})",
          "acceptedSuggestions");
  // The override lasts writeback.declined_days from the timestamp: it must be an instant; the
  // reason is kept in the ledger: a code.
  refused(R"({"feedback":[{"card":"a","outcome":"overridden","outcomeTimestamp":"t"}]})",
          "outcomeTimestamp: expected an instant");
  refused(R"({"feedback":[{"card":"a","outcome":"overridden","outcomeTimestamp":"2026-01-01"}]})",
          "outcomeTimestamp: expected an instant");
  refused(R"({"feedback":[{"card":"a","outcome":"overridden",)"
          R"("outcomeTimestamp":"2026-01-01T00:00:00Z","overrideReason":{"reason":)"
          R"({"code":"she said no\nreally"}}}]})",
          "overrideReason.reason.code");
  refused("[]", "expected");
  std::string three = R"({"feedback":[)";
  for (int i = 0; i < 3; ++i) {
    three +=
        std::string(i ? "," : "") + R"({"card":"a","outcome":"overridden","outcomeTimestamp":"t"})";
  }
  refused(three + "]}", "at most 2");
}

TEST(FeedbackTest, IssuedCardsKeepsTheMostRecent) {
  IssuedCards cards(2);
  cards.Add("u1", {"p1", "food", {}});
  cards.Add("u2", {"p1", "utilities", {}});
  cards.Add("u3", {"p2", "food", {}});
  EXPECT_FALSE(cards.Find("u1").has_value());
  ASSERT_TRUE(cards.Find("u3").has_value());
  EXPECT_EQ(cards.Find("u3")->patient_id, "p2");
  EXPECT_EQ(cards.size(), 2u);
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

TEST(ServeCommandTest, WatchSectionKeysAndUnknownKey) {
  YAML::Node n = YAML::Load(
      "interval: 5m\nbackoff_seconds: 2\nmax_backoff_seconds: 1h\nnotify_secret_env: S\n"
      "notify_header: X-Secret\nsubscription:\n  endpoint: https://s.test/notify\n"
      "  topic: https://ehr.test/topic/screening\n  payload: full-resource\n"
      "  filter_criteria: [\"QuestionnaireResponse?status=completed\"]\n");
  ServeOptions o;
  ASSERT_TRUE(ParseWatchSection("c.yaml", n, &o).ok());
  EXPECT_EQ(o.watch.interval, std::chrono::seconds(300));
  EXPECT_EQ(o.watch.backoff, std::chrono::seconds(2));
  EXPECT_EQ(o.watch.max_backoff, std::chrono::seconds(3600));
  EXPECT_EQ(o.notify_secret_env, "S");
  EXPECT_EQ(o.subscription.payload, "full-resource");
  EXPECT_EQ(o.subscription.filter_criteria.size(), 1u);
  fhir::Status bad = ParseWatchSection("c.yaml", YAML::Load("intervall: 5\n"), &o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("c.yaml:1: watch.intervall: unknown key"), std::string::npos)
      << bad.message();
  EXPECT_FALSE(ParseWatchSection("c.yaml", YAML::Load("interval: soon\n"), &o).ok());
  EXPECT_FALSE(
      ParseWatchSection("c.yaml", YAML::Load("subscription: {payload: everything}\n"), &o).ok());
}

TEST(ServeCommandTest, MainConfigAcceptsServiceAndWatchSections) {
  std::string text =
      "source: ../samples\nout: ../out\nmappings: ../mappings\nrules: [r.yaml]\n"
      "referrals: {identifier_system: urn:x}\n"
      "service: {listen: 127.0.0.1:0, no_auth: true}\nwatch: {interval: 60}\n";
  std::string path = ::testing::TempDir() + "/main-config.yaml";
  std::ofstream(path) << text;
  auto c = LoadConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ServeOptions o;
  ASSERT_TRUE(ParseServiceSection(path, c->service, &o).ok());
  EXPECT_TRUE(o.no_auth);
  ASSERT_TRUE(ParseWatchSection(path, c->watch, &o).ok());
  EXPECT_EQ(o.watch.interval, std::chrono::seconds(60));
  std::ofstream(path) << text << "wach: {}\n";
  EXPECT_FALSE(LoadConfig(path).ok());
  std::remove(path.c_str());
}

TEST(ServeCommandTest, WatchWithoutAnIntervalOrWithAFolderSourceIsAConfigError) {
  EXPECT_EQ(RunWatchCommand({}), 2);                    // the default config has no watch section
  EXPECT_EQ(RunWatchCommand({"--interval", "60"}), 2);  // its source is the samples folder
  EXPECT_EQ(RunWatchCommand({"--bogus"}), 2);
}

const char* kStatus = R"({"resourceType":"Parameters","parameter":[
  {"name":"subscription","valueReference":{"reference":"http://ehr.test/fhir/Subscription/s1"}},
  {"name":"topic","valueCanonical":"http://ehr.test/topic"},
  {"name":"type","valueCode":"%s"}%s]})";

std::string NotificationBody(const std::string& type, const std::string& events,
                             const std::string& entries) {
  char status[2048];
  std::snprintf(status, sizeof status, kStatus, type.c_str(), events.c_str());
  return std::string(R"({"resourceType":"Bundle","type":"history","entry":[{"resource":)") +
         status + "}" + entries + "]}";
}

const char* kEvent = R"(,{"name":"notification-event","part":[
  {"name":"event-number","valueString":"7"},
  {"name":"focus","valueReference":{"reference":"http://ehr.test/fhir/QuestionnaireResponse/q1"}}]})";

TEST(NotificationTest, HandshakeHeartbeatIdOnlyAndFullResource) {
  auto hs = ParseNotification(NotificationBody("handshake", "", ""));
  ASSERT_TRUE(hs.ok()) << hs.status().message();
  EXPECT_EQ(hs->type, "handshake");
  EXPECT_EQ(hs->subscription, "Subscription/s1");
  EXPECT_TRUE(hs->events.empty());
  EXPECT_FALSE(hs->IsEvent());
  auto id_only = ParseNotification(NotificationBody(
      "event-notification", kEvent,
      R"(,{"fullUrl":"http://ehr.test/fhir/QuestionnaireResponse/q1","request":{"method":"PUT","url":"QuestionnaireResponse/q1"}})"));
  ASSERT_TRUE(id_only.ok()) << id_only.status().message();
  ASSERT_EQ(id_only->events.size(), 1u);
  EXPECT_EQ(id_only->events[0].focus, "QuestionnaireResponse/q1");
  EXPECT_EQ(id_only->events[0].patient, "");
  auto full = ParseNotification(NotificationBody(
      "event-notification", kEvent,
      R"(,{"fullUrl":"http://ehr.test/fhir/QuestionnaireResponse/q1","resource":{"resourceType":"QuestionnaireResponse","id":"q1","status":"completed","subject":{"reference":"Patient/pat03"}}})"));
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->events.size(), 1u);
  EXPECT_EQ(full->events[0].patient, "Patient/pat03");
  EXPECT_FALSE(ParseNotification("{}").ok());
  EXPECT_FALSE(ParseNotification(R"({"resourceType":"Bundle","entry":[]})").ok());
  EXPECT_FALSE(ParseNotification(
                   R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}}]})")
                   .ok());
}

TEST(NotificationTest, SecretComparison) {
  EXPECT_TRUE(SecretMatches("s3cret", "s3cret"));
  EXPECT_FALSE(SecretMatches("s3cres", "s3cret"));
  EXPECT_FALSE(SecretMatches("s3cret-longer", "s3cret"));
  EXPECT_FALSE(SecretMatches("", ""));
}

std::shared_ptr<const Pipeline> SamplePipeline() {
  auto p = LoadPipeline(DefaultConfigPath());
  EXPECT_TRUE(p.ok());
  return std::make_shared<const Pipeline>(std::move(*p));
}

HttpRequest NotifyRequest(const std::string& secret, const std::string& body) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/notify";
  if (!secret.empty()) r.headers.emplace_back("x-sdoh-notify-secret", secret);
  r.body = body;
  return r;
}

TEST(NotifyRouteTest, SecretHandshakeHeartbeatAndEvents) {
  std::vector<std::vector<std::string>> queued;
  ServiceSettings s;
  s.no_auth = true;
  s.notify_secret = "n0tify";
  s.on_notify = [&](const std::vector<std::string>& refs) { queued.push_back(refs); };
  ServiceApp app(SamplePipeline(), s);
  std::string event = NotificationBody(
      "event-notification", kEvent,
      R"(,{"resource":{"resourceType":"QuestionnaireResponse","id":"q1","subject":{"reference":"Patient/pat03"}}})");
  EXPECT_EQ(app.Handle(NotifyRequest("", event)).status, 401);
  EXPECT_EQ(app.Handle(NotifyRequest("wrong", event)).status, 401);
  EXPECT_TRUE(queued.empty());
  EXPECT_EQ(app.Handle(NotifyRequest("n0tify", NotificationBody("handshake", "", ""))).status, 200);
  EXPECT_EQ(app.Handle(NotifyRequest("n0tify", NotificationBody("heartbeat", "", ""))).status, 200);
  EXPECT_TRUE(queued.empty());  // no work for handshake and heartbeat
  EXPECT_EQ(app.Handle(NotifyRequest("n0tify", "not json")).status, 400);
  EXPECT_EQ(app.Handle(NotifyRequest("n0tify", event)).status, 200);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0], std::vector<std::string>{"Patient/pat03"});
  std::string m = app.metrics().Render();
  EXPECT_NE(m.find(R"(sdoh_notifications_total{type="refused"} 2)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(sdoh_notifications_total{type="handshake"} 1)"), std::string::npos) << m;

  ServiceSettings unconfigured;
  unconfigured.no_auth = true;
  ServiceApp off(SamplePipeline(), unconfigured);
  EXPECT_EQ(off.Handle(NotifyRequest("n0tify", event)).status, 503);
}

TEST(WatchLoopTest, BackoffDoublesUpToTheCap) {
  WatchSettings s;
  s.interval = std::chrono::seconds(60);
  s.backoff = std::chrono::seconds(5);
  s.max_backoff = std::chrono::seconds(30);
  WatchLoop loop(s, [](const PassRequest&) { return 0; });
  EXPECT_EQ(loop.BackoffAfter(0), std::chrono::seconds(60));
  EXPECT_EQ(loop.BackoffAfter(1), std::chrono::seconds(5));
  EXPECT_EQ(loop.BackoffAfter(2), std::chrono::seconds(10));
  EXPECT_EQ(loop.BackoffAfter(3), std::chrono::seconds(20));
  EXPECT_EQ(loop.BackoffAfter(4), std::chrono::seconds(30));
  EXPECT_EQ(loop.BackoffAfter(40), std::chrono::seconds(30));
}

// Notifications during a pass coalesce into exactly one next pass carrying all of them; passes
// never overlap; Stop() during a pass lets it finish and starts no other.
TEST(WatchLoopTest, NotificationsCoalesceAndPassesNeverOverlap) {
  WatchSettings s;
  s.interval = std::chrono::seconds(3600);  // only the start pass and notifications run
  std::mutex mu;
  std::condition_variable cv;
  bool release_first = false;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::vector<PassRequest> seen;
  std::promise<void> first_started, second_done;
  WatchLoop loop(s, [&](const PassRequest& r) {
    int now = ++running;
    max_running = std::max(max_running.load(), now);
    if (r.number == 1) {
      first_started.set_value();
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release_first; });
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(r);
    }
    --running;
    if (r.number == 2) second_done.set_value();
    return 0;
  });
  loop.Start();
  first_started.get_future().wait();
  loop.Notify({"Patient/a"});
  loop.Notify({"Patient/b", "Patient/a"});
  loop.Notify({"QuestionnaireResponse/q9"});
  {
    std::lock_guard<std::mutex> lock(mu);
    release_first = true;
  }
  cv.notify_all();
  second_done.get_future().wait();
  loop.Stop();
  loop.Wait();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].reason, "start");
  EXPECT_EQ(seen[1].reason, "notification");
  EXPECT_EQ(seen[1].notified,
            (std::set<std::string>{"Patient/a", "Patient/b", "QuestionnaireResponse/q9"}));
  EXPECT_EQ(max_running.load(), 1);
}

TEST(WatchLoopTest, StopLetsTheCurrentPassFinish) {
  WatchSettings s;
  s.interval = std::chrono::seconds(3600);
  std::promise<void> started;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> finished{false};
  WatchLoop loop(s, [&](const PassRequest&) {
    started.set_value();
    released.wait();
    finished = true;
    return 0;
  });
  loop.Start();
  started.get_future().wait();
  loop.Stop();
  auto waiter = std::async(std::launch::async, [&] { loop.Wait(); });
  release.set_value();
  waiter.get();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(loop.passes(), 1u);
}

// A failing pass is retried (reason "retry") and a notification does not cut the backoff
// short: with a 1-hour backoff the notified pass never comes before Stop().
TEST(WatchLoopTest, FailureCountsAndNotificationsWaitForTheBackoff) {
  WatchSettings s;
  s.interval = std::chrono::seconds(3600);
  s.backoff = std::chrono::seconds(3600);
  std::promise<void> first_done;
  WatchLoop loop(s, [&](const PassRequest& r) {
    if (r.number == 1) first_done.set_value();
    return 1;
  });
  loop.Start();
  first_done.get_future().wait();
  loop.Notify({"Patient/a"});
  loop.Stop();
  loop.Wait();
  EXPECT_EQ(loop.passes(), 1u);
  EXPECT_EQ(loop.failures(), 1u);
}

TEST(SubscriptionTest, BackportShape) {
  SubscriptionSettings s;
  s.endpoint = "https://sdoh.test/notify";
  s.topic = "https://ehr.test/topic/screening";
  s.filter_criteria = {"QuestionnaireResponse?status=completed"};
  s.payload = "full-resource";
  s.heartbeat_seconds = 3600;
  rapidjson::Document d;
  std::string json = SubscriptionJson(s, "X-Sdoh-Notify-Secret", "sec", 0, "");
  d.Parse(json.c_str());
  ASSERT_FALSE(d.HasParseError()) << json;
  EXPECT_STREQ(d["criteria"].GetString(), "https://ehr.test/topic/screening");
  EXPECT_STREQ(d["status"].GetString(), "requested");
  EXPECT_STREQ(d["channel"]["type"].GetString(), "rest-hook");
  EXPECT_STREQ(d["channel"]["payload"].GetString(), "application/fhir+json");
  EXPECT_STREQ(d["channel"]["_payload"]["extension"][0]["valueCode"].GetString(), "full-resource");
  EXPECT_STREQ(d["channel"]["header"][0].GetString(), "X-Sdoh-Notify-Secret: sec");
  EXPECT_STREQ(d["_criteria"]["extension"][0]["valueString"].GetString(),
               "QuestionnaireResponse?status=completed");
  EXPECT_FALSE(d.HasMember("id"));
}

}  // namespace
}  // namespace sdoh::service
