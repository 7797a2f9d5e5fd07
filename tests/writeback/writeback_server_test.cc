// Writeback against the real FHIR test server (tests/fhir-server): exactly once across reruns,
// crashes at named failpoints, random kill -9, two processes at once; suppression, Flag
// deactivation, retraction, revoke, dry run; the audit log holds no names or birth dates.
// Issue 13: only what the ledger recorded is changed, never a closed referral; a ledger that
// cannot be written stops the run; the ledger is bound to its server; no symlink is followed.
// Each test starts its own server (PORT=0) and loads the samples; each stays under 30 s.
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/writeback/ledger.h"
#include "tests/client/fault_proxy.h"
#include "tests/support/server_samples.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
const std::string kSource = SDOH_SOURCE_DIR;
const std::string kSystem = "urn:sdoh-bridge:referral";

using sdoh::test::Lines;
using sdoh::test::ReadFile;

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

std::string Iso(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return buf;
}
std::string Shift(int days) {
  return Iso(std::chrono::system_clock::now() + std::chrono::hours(24 * days));
}
// The sample QuestionnaireResponse with this id, as shipped.
std::string OriginalQr(const std::string& id) {
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/QuestionnaireResponse.ndjson"))) {
    if (l.find("\"id\":\"" + id + "\"") != std::string::npos) return l;
  }
  return "";
}

// The sample Observation with this id, as shipped.
std::string OriginalObservation(const std::string& id) {
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/Observation.ndjson"))) {
    if (l.find("\"id\":\"" + id + "\"") != std::string::npos) return l;
  }
  return "";
}

// The real FHIR test server (tests/support/test_support.h).
class Server : public sdoh::test::FhirServerProcess {
 public:
  Server() : FhirServerProcess(kSource) {}
};

struct Found {
  std::string id, version, status, identifier, focus, json;
};

using sdoh::FlagIdentifier;

// The need of one of our resources, from its identifier and its subject (identifiers.h).
std::string NeedOf(const Found& f) {
  static const std::unique_ptr<sdoh::Catalog> catalog =
      std::move(*sdoh::Catalog::Load(std::string(SDOH_SOURCE_DIR) + "/mappings"));
  rapidjson::Document d;
  d.Parse(f.json.c_str());
  if (d.HasParseError() || !d.IsObject()) return "";
  std::string patient;
  for (const char* member : {"subject", "for"}) {
    if (d.HasMember(member) && d[member].IsObject() && d[member].HasMember("reference")) {
      std::string ref = d[member]["reference"].GetString();
      patient = ref.substr(ref.rfind('/') + 1);
    }
  }
  auto id = sdoh::ParseIdentifier(f.identifier, patient, *catalog);
  return id ? id->need : "";
}

class WritebackServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    out_ = sdoh::test::FreshTestDir(
        "sdoh-wb-out", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    LoadSamples();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(out_, ec);
  }

  // The samples, in transaction Bundles of PUTs (their ids kept).
  void LoadSamples() {
    std::string failed = sdoh::test::LoadSamples(*client_.fhir, kSource);
    ASSERT_TRUE(failed.empty()) << failed;
  }

  int Run(const std::string& args, std::string* output = nullptr, const std::string& env = "") {
    std::string cmd = env + " " + std::string(SDOH_BRIDGE_BIN) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
    int status = pclose(p);
    if (output) *output = text;
    last_output_ = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string RunArgs(const std::string& extra = "") {
    return "run --config " + (config_.empty() ? kSource + "/config/sdoh-bridge.yaml" : config_) +
           " --source " + server_.base_url() + " --out " + out_.string() + " " + extra;
  }
  // A copy of the default config with a writeback section.
  void UseConfig(const std::string& writeback_yaml) {
    std::string text = ReadFile(kSource + "/config/sdoh-bridge.yaml");
    for (const char* rel : {": ../samples", ": ../out", ": ../mappings", "- rules/"}) {
      std::string r(rel);
      std::string abs = r.substr(0, 2) + (r[2] == '.' ? kSource + "/" + r.substr(5)
                                                      : kSource + "/config/" + r.substr(2));
      text.replace(text.find(r), r.size(), abs);
    }
    text.resize(text.find("\nwriteback:") + 1);  // replaced by the test's own section
    config_ = (out_ / "cfg.yaml").string();
    std::ofstream(config_) << text << "writeback:\n" << writeback_yaml;
  }

  std::vector<Found> All(const std::string& type) {
    std::vector<Found> out;
    auto pager = client_.fhir->Pages(type, {{"_count", "1000"}});
    while (true) {
      auto more = pager.Next();
      EXPECT_TRUE(more.ok()) << more.error().ToString();
      if (!more.ok() || !more.value()) break;
      if (!pager.page().HasMember("entry")) continue;
      for (const auto& e : pager.page()["entry"].GetArray()) {
        const auto& r = e["resource"];
        Found f{r["id"].GetString(),
                r["meta"]["versionId"].GetString(),
                r["status"].GetString(),
                "",
                "",
                ToJson(r)};
        if (r.HasMember("identifier")) {
          for (const auto& id : r["identifier"].GetArray()) {
            if (id.HasMember("system") && id["system"].GetString() == kSystem) {
              f.identifier = id["value"].GetString();
            }
          }
        }
        if (r.HasMember("focus") && r["focus"].HasMember("reference")) {
          f.focus = r["focus"]["reference"].GetString();
        }
        out.push_back(std::move(f));
      }
    }
    return out;
  }
  // identifier → live (not entered-in-error) resources with it.
  std::map<std::string, std::vector<Found>> Live(const std::string& type) {
    std::map<std::string, std::vector<Found>> m;
    for (Found& f : All(type)) {
      if (!f.identifier.empty() && f.status != "entered-in-error") {
        m[f.identifier].push_back(std::move(f));
      }
    }
    return m;
  }
  // (type/id → version) of everything ours, to prove a run wrote nothing.
  std::map<std::string, std::string> Snapshot() {
    std::map<std::string, std::string> s;
    for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
      for (const Found& f : All(t)) s[std::string(t) + "/" + f.id] = f.version;
    }
    return s;
  }
  // The identifiers the run planned (its NDJSON outputs).
  std::set<std::string> Planned(const std::string& type) {
    std::set<std::string> ids;
    for (const auto& l : Lines(ReadFile(out_ / (type + ".ndjson")))) {
      rapidjson::Document d;
      d.Parse(l.c_str());
      ids.insert(d["identifier"][0]["value"].GetString());
    }
    return ids;
  }
  // Exactly the planned resources, each once, every Task's focus on its ServiceRequest.
  void ExpectExactlyOnce() {
    for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
      auto live = Live(t);
      std::set<std::string> have;
      for (const auto& [id, list] : live) {
        EXPECT_EQ(list.size(), 1u) << t << " " << id << " duplicated";
        have.insert(id);
      }
      EXPECT_EQ(have, Planned(t)) << t;
    }
    std::map<std::string, std::string> sr_by_identifier;
    for (const auto& [id, list] : Live("ServiceRequest")) {
      sr_by_identifier[id] = "ServiceRequest/" + list[0].id;
    }
    for (const auto& [id, list] : Live("Task")) {
      // task-<K>-<E> belongs to sr-<K>-<E>; a format-1 "<sr>-task" to <sr> (identifiers.h).
      std::string sr =
          id.rfind("task-", 0) == 0 ? "sr-" + id.substr(5) : id.substr(0, id.size() - 5);
      EXPECT_EQ(list[0].focus, sr_by_identifier[sr]) << id;
    }
  }
  std::string RunId() {
    rapidjson::Document d;
    d.Parse(ReadFile(out_ / "summary.json").c_str());
    return d["run"].GetString();
  }

  // A fault proxy in front of the server (tests/client/fault_proxy.h); `run` then reads and
  // writes through it.
  fhir::client::testing::FaultProxy& Proxy() {
    if (!proxy_) {
      const std::string& b = server_.base_url();  // http://127.0.0.1:N/fhir
      size_t colon = b.rfind(':');
      uint16_t port = static_cast<uint16_t>(std::stoi(b.substr(colon + 1)));
      proxy_ = std::make_unique<fhir::client::testing::FaultProxy>(
          fhir::client::testing::FaultProxyOptions{port, 0});
    }
    return *proxy_;
  }
  std::string ProxyRunArgs(const std::string& extra = "") {
    return "run --config " + (config_.empty() ? kSource + "/config/sdoh-bridge.yaml" : config_) +
           " --source " + Proxy().origin() + "/fhir --out " + out_.string() + " " + extra;
  }
  // A fault on the first transaction the run sends; then a clean rerun: exactly the plan.
  void FaultOnATransactionThenRerun(fhir::client::testing::Cue cue) {
    ASSERT_TRUE(Proxy().error().empty()) << Proxy().error();
    cue.method = "POST";
    Proxy().AddCue(cue);
    Run(ProxyRunArgs());  // may fail (exit 1): an uncertain write stops the pass
    const std::string first = last_output_;
    EXPECT_GE(Proxy().Count("POST", "/fhir"), 1) << first;
    Proxy().ClearCues();
    ASSERT_EQ(Run(ProxyRunArgs()), 0) << first << "\n--- rerun ---\n" << last_output_;
    ExpectExactlyOnce();
    auto before = Snapshot();
    ASSERT_EQ(Run(ProxyRunArgs("--full")), 0) << last_output_;
    EXPECT_EQ(Snapshot(), before);
  }

  // pat03's food referral (from p03-hvs) is retracted: its one ServiceRequest revoked, its Flag
  // entered-in-error.
  void ExpectFoodOfPat03Retracted(const std::string& context) {
    int revoked = 0;
    for (const Found& f : All("ServiceRequest")) {
      if (NeedOf(f) == "food" && f.json.find("Patient/pat03") != std::string::npos) {
        EXPECT_EQ(f.status, "revoked");
        ++revoked;
      }
    }
    EXPECT_EQ(revoked, 1) << context;
    for (const Found& f : All("Flag")) {
      if (f.identifier == FlagIdentifier("pat03", "food")) {
        EXPECT_EQ(f.status, "entered-in-error");
      }
    }
  }

  // The resource as the server holds it now.
  Found Get(const std::string& type, const std::string& id) {
    for (Found& f : All(type)) {
      if (f.id == id) return f;
    }
    return {};
  }
  // DELETE [base]/type/id on the test server.
  void Delete(const std::string& type, const std::string& id) {
    fhir::client::HttpRequest req;
    req.method = "DELETE";
    req.url = server_.base_url() + "/" + type + "/" + id;
    auto r = client_.fhir->Send(req, fhir::client::RequestKind::kIdempotentWrite);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }
  std::string RevokeArgs(const std::string& run_id, const std::string& base = "") {
    return "revoke --run " + run_id + " --source " + (base.empty() ? server_.base_url() : base) +
           " --out " + out_.string();
  }
  // The same server under another base URL: through the fault proxy (no cues), whose
  // origin the server's paging links then use.
  std::string OtherBase() {
    EXPECT_TRUE(Proxy().error().empty()) << Proxy().error();
    return Proxy().origin() + "/fhir";
  }
  // `sh -c cmd` as the user nobody (a forked child drops root's privileges): its exit code, -1
  // when it did not exit.
  static int ShAsNobody(const std::string& cmd) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(99);
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(98);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // Whether `nobody` can run the binary and read the source tree (the probe writes nothing).
  bool NobodyCanRun() {
    return ShAsNobody(std::string(SDOH_BRIDGE_BIN) + " version >/dev/null 2>&1 && test -r " +
                      std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml") == 0;
  }
  // `sdoh-bridge <args>` run as the user nobody, so that file modes apply; the plain process
  // when the test does not run as root.
  int RunAsNobody(const std::string& args) {
    if (::geteuid() != 0) return Run(args);
    const std::string log = (out_ / "nobody.log").string();
    const int code = ShAsNobody(std::string(SDOH_BRIDGE_BIN) + " " + args + " > " + log + " 2>&1");
    last_output_ = ReadFile(log);
    return code;
  }

  std::unique_ptr<fhir::client::testing::FaultProxy> proxy_;
  Server server_;
  fhir::client::Client client_;
  fs::path out_;
  std::string config_;
  std::string last_output_;
};

TEST_F(WritebackServerTest, SecondRunOnTheSameDataWritesNothing) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  ExpectExactlyOnce();
  EXPECT_GT(Planned("ServiceRequest").size(), 20u);
  auto before = Snapshot();
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;  // incremental (cursor)
  EXPECT_NE(last_output_.find("incremental pass"), std::string::npos) << last_output_;
  EXPECT_EQ(Snapshot(), before);
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  EXPECT_EQ(Snapshot(), before);
  EXPECT_NE(last_output_.find("0 transaction(s)"), std::string::npos) << last_output_;
}

TEST_F(WritebackServerTest, ARejectedTransactionIsSplitAndRetriedSmaller) {
  // The server rejects transactions of more than 8 conditional entries.
  UseConfig("  batch_size: 30\n");
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  EXPECT_NE(last_output_.find("transactions split"), std::string::npos) << last_output_;
  EXPECT_NE(ReadFile(out_ / "audit.jsonl").find("\"action\":\"split\""), std::string::npos);
  ExpectExactlyOnce();
}

TEST_F(WritebackServerTest, DryRunWritesNothingAndPlansEverything) {
  ASSERT_EQ(Run(RunArgs("--dry-run")), 0) << last_output_;
  EXPECT_TRUE(Snapshot().empty());
  EXPECT_FALSE(fs::exists(out_ / "ledger.sqlite"));
  rapidjson::Document plan;
  plan.Parse(ReadFile(out_ / "plan.json").c_str());
  ASSERT_FALSE(plan.HasParseError()) << ReadFile(out_ / "plan.json");
  for (const char* k : {"referrals", "new_referrals", "already_open", "suppressed",
                        "flags_to_update", "retractions"}) {
    EXPECT_TRUE(plan.HasMember(k)) << k;
  }
  EXPECT_GT(plan["new_referrals"].Size(), 20u);
  EXPECT_NE(last_output_.find("new referrals"), std::string::npos);
  // After a real run, the dry run reports them as already open.
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  ASSERT_EQ(Run(RunArgs("--dry-run --full")), 0) << last_output_;
  plan.Parse(ReadFile(out_ / "plan.json").c_str());
  EXPECT_EQ(plan["new_referrals"].Size(), 0u);
  EXPECT_GT(plan["already_open"].Size(), 20u);
}

TEST_F(WritebackServerTest, CrashAtEachFailpointThenRerunLeavesExactlyThePlan) {
  for (const char* fp : {"after-commit-before-ledger", "between-batches"}) {
    SCOPED_TRACE(fp);
    ASSERT_EQ(Run(RunArgs("--full"), nullptr, std::string("SDOH_FAILPOINT=") + fp), 86)
        << last_output_;
  }
  // A sent-but-unconfirmed batch in the ledger, then a crash while reconciling it.
  ASSERT_EQ(Run(RunArgs("--full"), nullptr, "SDOH_FAILPOINT=after-commit-before-ledger"), 86);
  ASSERT_EQ(Run(RunArgs("--full"), nullptr, "SDOH_FAILPOINT=during-reconcile"), 86) << last_output_;
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  ExpectExactlyOnce();
  auto before = Snapshot();
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  EXPECT_EQ(Snapshot(), before);
}

void KillTrials(WritebackServerTest* t, int trials, const std::string& args,
                const std::function<int(const std::string&)>& run,
                const std::function<void()>& check) {
  std::mt19937 rng(12345);
  for (int i = 0; i < trials; ++i) {
    std::string cmd = std::string(SDOH_BRIDGE_BIN) + " " + args + " >/dev/null 2>&1";
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 1500));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  (void)t;
  EXPECT_EQ(run(args), 0);
  check();
}

TEST_F(WritebackServerTest, RandomKillNineTrials) {
  KillTrials(
      this, 5, RunArgs("--full"), [&](const std::string& a) { return Run(a); },
      [&] { ExpectExactlyOnce(); });
}

TEST_F(WritebackServerTest, SlowRandomKillNineTwentyTrials) {
  KillTrials(
      this, 20, RunArgs("--full"), [&](const std::string& a) { return Run(a); },
      [&] { ExpectExactlyOnce(); });
}

TEST_F(WritebackServerTest, TwoProcessesAtOnceOneWaitsOrExitsAndNoDuplicates) {
  std::string cmd = std::string(SDOH_BRIDGE_BIN) + " " + RunArgs("--full");
  std::string a_out = (out_ / "a.txt").string(), b_out = (out_ / "b.txt").string();
  std::string both = "(" + cmd + " >" + a_out + " 2>&1; echo $? >>" + a_out + ") & (" + cmd + " >" +
                     b_out + " 2>&1; echo $? >>" + b_out + ") & wait";
  ASSERT_EQ(std::system(both.c_str()), 0);
  auto last = [](const std::string& text) {
    auto lines = Lines(text);
    return lines.empty() ? std::string() : lines.back();
  };
  std::string ca = last(ReadFile(a_out)), cb = last(ReadFile(b_out));
  EXPECT_TRUE((ca == "0" && (cb == "0" || cb == "4")) || (cb == "0" && ca == "4"))
      << ReadFile(a_out) << ReadFile(b_out);
  if (ca == "4" || cb == "4") {
    EXPECT_NE((ReadFile(a_out) + ReadFile(b_out)).find("another sdoh-bridge run holds"),
              std::string::npos);
  }
  ExpectExactlyOnce();
}

TEST_F(WritebackServerTest, OpenReferralBySomeoneElseSuppresses) {
  // Someone else's open food referral for pat04 (another identifier system, no Task).
  auto r = client_.fhir->Create("ServiceRequest", R"({"resourceType":"ServiceRequest",
      "identifier":[{"system":"urn:other-app","value":"x1"}],"status":"active","intent":"order",
      "category":[{"coding":[{"system":"http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes","code":"food-insecurity"}]}],
      "code":{"text":"Food pantry"},"subject":{"reference":"Patient/pat04"}})");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  auto srs = All("ServiceRequest");
  for (const Found& f : srs) {
    EXPECT_FALSE(NeedOf(f) == "food" && f.json.find("Patient/pat04") != std::string::npos)
        << "a second open food referral for pat04";
  }
  EXPECT_NE(ReadFile(out_ / "audit.jsonl").find("open-referral ServiceRequest/"),
            std::string::npos);
  // Its Flag is still written.
  EXPECT_EQ(Live("Flag").count(FlagIdentifier("pat04", "food")), 1u);
}

// Issue 12: referrals an earlier release wrote under identifier format 1 (`<need>-<hex>` for
// the ServiceRequest, `<need>-<patient id>` for the Flag) are recognised after the upgrade: no
// second open referral, no second Flag (the format-1 Flag is updated to the new identifier), and
// a negative rescreen inactivates it like one of the new format.
TEST_F(WritebackServerTest, ReferralsWrittenUnderFormatOneAreRecognised) {
  const std::string domain =
      R"({"coding":[{"system":"http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes","code":"food-insecurity"}]})";
  auto sr = client_.fhir->Create("ServiceRequest",
                                 R"({"resourceType":"ServiceRequest",
      "identifier":[{"system":")" + std::string(kSystem) +
                                     R"(","value":"food-0123456789abcdef0123456789abcdef"}],
      "status":"active","intent":"order","category":[)" +
                                     domain +
                                     R"(],"code":{"text":"Food"},
      "subject":{"reference":"Patient/pat03"},"authoredOn":"2024-06-01",
      "note":[{"text":"Referral for food. Rule set sdoh-default 1.0.0. Why: hvs."}]})");
  ASSERT_TRUE(sr.ok()) << sr.error().ToString();
  auto flag = client_.fhir->Create("Flag", R"({"resourceType":"Flag",
      "identifier":[{"system":")" + std::string(kSystem) +
                                               R"(","value":"food-pat03"}],
      "status":"active","code":)" + domain + R"(,"subject":{"reference":"Patient/pat03"}})");
  ASSERT_TRUE(flag.ok()) << flag.error().ToString();
  // The earlier release recorded them in its ledger (issue 13: only what the ledger recorded is
  // changed), bound to this server.
  {
    std::string sr_id, flag_id;
    for (const Found& f : All("ServiceRequest")) {
      if (f.identifier == "food-0123456789abcdef0123456789abcdef") sr_id = f.id;
    }
    for (const Found& f : All("Flag")) {
      if (f.identifier == "food-pat03") flag_id = f.id;
    }
    sdoh::writeback::Ledger ledger;
    ASSERT_TRUE(ledger.Open((out_ / "ledger.sqlite").string(), 0).ok());
    ASSERT_TRUE(ledger.Bind(server_.base_url(), kSystem, false).ok());
    ASSERT_TRUE(ledger
                    .Upsert({"ServiceRequest", "food-0123456789abcdef0123456789abcdef", "pat03",
                             "food", "confirmed", sr_id, "1", "run-format-1"})
                    .ok());
    ASSERT_TRUE(ledger
                    .Upsert({"Flag", "food-pat03", "pat03", "food", "confirmed", flag_id, "1",
                             "run-format-1"})
                    .ok());
  }
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  int open_food = 0;
  for (const Found& f : All("ServiceRequest")) {
    if (NeedOf(f) == "food" && f.status == "active" &&
        f.json.find("Patient/pat03") != std::string::npos) {
      ++open_food;
    }
  }
  EXPECT_EQ(open_food, 1) << "the format-1 referral is the open one; no second";
  int food_flags = 0;
  for (const Found& f : All("Flag")) {
    if (NeedOf(f) == "food" && f.json.find("Patient/pat03") != std::string::npos) {
      ++food_flags;
      EXPECT_EQ(f.identifier, FlagIdentifier("pat03", "food")) << "updated to format 2";
      EXPECT_EQ(f.status, "active");
    }
  }
  EXPECT_EQ(food_flags, 1);
  // A negative rescreen: the (migrated) Flag goes inactive.
  std::string qr = OriginalQr("p03-hvs");
  for (size_t pos; (pos = qr.find("LA6729-3")) != std::string::npos;)
    qr.replace(pos, 8, "LA28398-8");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  auto flags = Live("Flag");
  ASSERT_EQ(flags[FlagIdentifier("pat03", "food")].size(), 1u);
  EXPECT_EQ(flags[FlagIdentifier("pat03", "food")][0].status, "inactive");
}

// Issue 12: two patients whose ids and need names collided under "<need>-<patient id>":
// pat29 with interpersonal-safety-incomplete (here: HITS "Never" x3, one item missing: 4 to 8
// points, undecided) and incomplete-pat29 with interpersonal-safety (all four HITS items
// "Frequently") both gave "interpersonal-safety-incomplete-pat29", so one Flag was never
// written and a revoke touched the other patient's. Each now gets its own Flag.
TEST_F(WritebackServerTest, PrefixPairPatientsGetTheirOwnFlags) {
  std::string patient;
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/Patient.ndjson"))) {
    if (l.find("\"id\":\"pat29\"") != std::string::npos) patient = l;
  }
  ASSERT_FALSE(patient.empty());
  patient.replace(patient.find("\"id\":\"pat29\""), 12, "\"id\":\"incomplete-pat29\"");
  ASSERT_TRUE(client_.fhir->Update("Patient", "incomplete-pat29", patient).ok());
  std::string qr = OriginalQr("p29-ahc");
  ASSERT_FALSE(qr.empty());
  qr.replace(qr.find("\"id\":\"p29-ahc\""), 14, "\"id\":\"x29-ahc\"");
  qr.replace(qr.find("Patient/pat29"), 13, "Patient/incomplete-pat29");
  qr.insert(
      qr.rfind("]}"),
      R"(,{"linkId":"/95615-1","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA6482-9"}}]})");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "x29-ahc", qr).ok());
  std::string never = OriginalQr("p29-ahc");
  for (size_t pos; (pos = never.find("LA6482-9")) != std::string::npos;)
    never.replace(pos, 8, "LA6270-8");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p29-ahc", never).ok());
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  auto live = Live("Flag");
  const std::string a = FlagIdentifier("pat29", "interpersonal-safety-incomplete");
  const std::string b = FlagIdentifier("incomplete-pat29", "interpersonal-safety");
  ASSERT_EQ(live[a].size(), 1u) << last_output_;
  ASSERT_EQ(live[b].size(), 1u) << last_output_;
  EXPECT_NE(live[a][0].json.find("\"Patient/pat29\""), std::string::npos);
  EXPECT_NE(live[b][0].json.find("\"Patient/incomplete-pat29\""), std::string::npos);
}

TEST_F(WritebackServerTest, RejectedTenDaysAgoWithANewerScreeningFollowsThePolicy) {
  // pat03's food referral is written, then rejected; pat03 is rescreened positive (a new QR).
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  auto tasks = All("Task");
  const Found* task = nullptr;
  for (const Found& t : tasks) {
    if (NeedOf(t) == "food" && t.json.find("Patient/pat03") != std::string::npos) task = &t;
  }
  ASSERT_NE(task, nullptr);
  auto rej =
      client_.fhir->Update("Task", task->id,
                           R"({"resourceType":"Task","id":")" + task->id +
                               R"(","status":"rejected","intent":"order","focus":{"reference":")" +
                               task->focus + R"("},"for":{"reference":"Patient/pat03"}})",
                           task->version);
  ASSERT_TRUE(rej.ok()) << rej.error().ToString();
  // The SR is completed by its performer.
  auto srs = All("ServiceRequest");
  std::string sr_id = task->focus.substr(task->focus.find('/') + 1);
  for (const Found& f : srs) {
    if (f.id == sr_id) {
      rapidjson::Document d;
      d.Parse(f.json.c_str());
      d["status"].SetString("completed");
      ASSERT_TRUE(client_.fhir->Update("ServiceRequest", f.id, ToJson(d), f.version).ok());
    }
  }
  std::string qr = Lines(ReadFile(kSource + "/samples/QuestionnaireResponse.ndjson"))[0];
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/QuestionnaireResponse.ndjson"))) {
    if (l.find("\"id\":\"p03-hvs\"") != std::string::npos) qr = l;
  }
  rapidjson::Document d;
  d.Parse(qr.c_str());
  d["id"].SetString("p03-hvs-rescreen");
  // A minute ahead: clearly newer than the referral's closure (its server lastUpdated carries
  // milliseconds; a seconds-precision "now" could fall just before it).
  const std::string today = Iso(std::chrono::system_clock::now() + std::chrono::seconds(60));
  d["authored"].SetString(today.c_str(), d.GetAllocator());
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs-rescreen", ToJson(d)).ok());
  // Ten days later: inside 30 days → suppressed.
  const std::string later = Shift(10);
  ASSERT_EQ(Run(RunArgs("--full --now " + later)), 0) << last_output_;
  auto open_food_pat03 = [&] {
    int n = 0;
    for (const Found& f : All("ServiceRequest")) {
      if (NeedOf(f) == "food" && f.status == "active" &&
          f.json.find("Patient/pat03") != std::string::npos)
        ++n;
    }
    return n;
  };
  EXPECT_EQ(open_food_pat03(), 0);
  EXPECT_NE(ReadFile(out_ / "audit.jsonl").find("less than 30 days"), std::string::npos);
  // With suppression_days 5, the newer positive screening re-refers.
  UseConfig("  suppression_days: 5\n");
  ASSERT_EQ(Run(RunArgs("--full --now " + later)), 0) << last_output_;
  EXPECT_EQ(open_food_pat03(), 1);
}

TEST_F(WritebackServerTest, NegativeRescreenDeactivatesTheFlagWithoutASecondOne) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  ASSERT_EQ(Live("Flag").count(FlagIdentifier("pat03", "food")), 1u);
  std::string qr;
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/QuestionnaireResponse.ndjson"))) {
    if (l.find("\"id\":\"p03-hvs\"") != std::string::npos) qr = l;
  }
  // Both HVS answers "Never true" (LA28398-8).
  for (size_t pos; (pos = qr.find("LA6729-3")) != std::string::npos;)
    qr.replace(pos, 8, "LA28398-8");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  auto flags = Live("Flag");
  ASSERT_EQ(flags.count(FlagIdentifier("pat03", "food")), 1u);
  ASSERT_EQ(flags[FlagIdentifier("pat03", "food")].size(), 1u);
  EXPECT_EQ(flags[FlagIdentifier("pat03", "food")][0].status, "inactive");
  // A positive rescreen reactivates the same Flag (PUT with If-Match), never a second one.
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", OriginalQr("p03-hvs")).ok());
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  flags = Live("Flag");
  ASSERT_EQ(flags[FlagIdentifier("pat03", "food")].size(), 1u);
  EXPECT_EQ(flags[FlagIdentifier("pat03", "food")][0].status, "active");
}

TEST_F(WritebackServerTest, EnteredInErrorScreeningRetractsWhatItAloneJustified) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  std::string qr = OriginalQr("p03-hvs");
  qr.replace(qr.find("\"status\":\"completed\""), 20, "\"status\":\"entered-in-error\"");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  int revoked = 0, cancelled = 0;
  for (const Found& f : All("ServiceRequest")) {
    if (f.json.find("Patient/pat03") != std::string::npos && NeedOf(f) == "food") {
      EXPECT_EQ(f.status, "revoked");
      ++revoked;
    }
  }
  for (const Found& f : All("Task")) {
    if (f.json.find("Patient/pat03") != std::string::npos && NeedOf(f) == "food") {
      EXPECT_EQ(f.status, "cancelled");
      ++cancelled;
    }
  }
  EXPECT_EQ(revoked, 1);
  EXPECT_EQ(cancelled, 1);
  for (const Found& f : All("Flag")) {
    if (f.identifier == FlagIdentifier("pat03", "food")) {
      EXPECT_EQ(f.status, "entered-in-error");
    }
  }
  // Other patients untouched; a rerun writes nothing.
  auto before = Snapshot();
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  EXPECT_EQ(Snapshot(), before);
}

// Incremental sync (no --full): the second run starts from the ledger's cursor, sees only what
// changed, and re-reads each changed patient whole — so a negative rescreen deactivates the Flag
// there too, and nothing else is touched.
TEST_F(WritebackServerTest, IncrementalPassRereadsARescreenedPatientWhole) {
  // No overlap window: the second pass sees exactly the one change made after the first.
  UseConfig("  sync_overlap_seconds: 0\n");
  // The cursor is the server's time in whole seconds: let the loading end in an earlier second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  ASSERT_EQ(Live("Flag").count(FlagIdentifier("pat03", "food")), 1u);
  auto before = Snapshot();
  std::string qr = OriginalQr("p03-hvs");
  for (size_t pos; (pos = qr.find("LA6729-3")) != std::string::npos;)
    qr.replace(pos, 8, "LA28398-8");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  std::string out;
  ASSERT_EQ(Run(RunArgs(), &out), 0) << out;
  EXPECT_NE(out.find("incremental pass"), std::string::npos) << out;
  EXPECT_NE(out.find("1 changed patients read in full"), std::string::npos) << out;
  auto flags = Live("Flag");
  ASSERT_EQ(flags[FlagIdentifier("pat03", "food")].size(), 1u);
  EXPECT_EQ(flags[FlagIdentifier("pat03", "food")][0].status, "inactive");
  // Only that Flag changed: every other resource of ours keeps its version.
  auto after = Snapshot();
  ASSERT_EQ(after.size(), before.size());
  int changed = 0;
  for (const auto& [ref, version] : after) changed += before[ref] != version;
  EXPECT_EQ(changed, 1);
}

// A changed member Observation leads back to its panel: p06's PRAPARE housing answer (a member
// two levels down the panel) turns from "Yes" to "No"; only the member changed on the server.
TEST_F(WritebackServerTest, IncrementalPassFollowsAChangedMemberToItsPanel) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  ASSERT_EQ(Live("Flag").count(FlagIdentifier("pat06", "housing-instability")), 1u);
  std::string obs = OriginalObservation("p06-prapare-93033-9");
  ASSERT_NE(obs.find("LA33-6"), std::string::npos);
  obs.replace(obs.find("LA33-6"), 6, "LA32-8");
  obs.replace(obs.find("\"display\":\"Yes\""), 15, "\"display\":\"No\"");
  ASSERT_TRUE(client_.fhir->Update("Observation", "p06-prapare-93033-9", obs).ok());
  std::string out;
  ASSERT_EQ(Run(RunArgs(), &out), 0) << out;
  EXPECT_NE(out.find("incremental pass"), std::string::npos) << out;
  auto flags = Live("Flag");
  ASSERT_EQ(flags[FlagIdentifier("pat06", "housing-instability")].size(), 1u);
  EXPECT_EQ(flags[FlagIdentifier("pat06", "housing-instability")][0].status, "inactive");
  // The panel's other needs are still read (from the re-read panel) and stay active.
  ASSERT_EQ(flags[FlagIdentifier("pat06", "food")].size(), 1u);
  EXPECT_EQ(flags[FlagIdentifier("pat06", "food")][0].status, "active");
  // flags.ndjson of the incremental pass: p06's remaining needs, no housing.
  std::string flags_out = ReadFile(out_ / "flags.ndjson");
  EXPECT_NE(flags_out.find("\"Patient/pat06\",\"flag\":\"food\""), std::string::npos);
  EXPECT_EQ(flags_out.find("\"Patient/pat06\",\"flag\":\"housing-instability\""),
            std::string::npos);
}

// Retraction without --full: the screening turned entered-in-error is a change like any other.
TEST_F(WritebackServerTest, IncrementalPassRetractsAnEnteredInErrorScreening) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  std::string qr = OriginalQr("p03-hvs");
  qr.replace(qr.find("\"status\":\"completed\""), 20, "\"status\":\"entered-in-error\"");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  std::string out;
  ASSERT_EQ(Run(RunArgs(), &out), 0) << out;
  EXPECT_NE(out.find("incremental pass"), std::string::npos) << out;
  ExpectFoodOfPat03Retracted(out);
}

// Faults in the middle of a transaction (the client issue's proxy): the server may or may not
// have committed it; nothing is lost and nothing is duplicated.
TEST_F(WritebackServerTest, A503AfterTheServerCommittedLosesNothingAndDuplicatesNothing) {
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kStatus503;
  cue.forward_first = true;
  FaultOnATransactionThenRerun(cue);
}
TEST_F(WritebackServerTest, A429BeforeTheServerSawItLosesNothingAndDuplicatesNothing) {
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kStatus429;
  cue.retry_after = "0";
  cue.times = 2;
  FaultOnATransactionThenRerun(cue);
}
TEST_F(WritebackServerTest, AResetAfterTheServerCommittedLosesNothingAndDuplicatesNothing) {
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kReset;
  cue.forward_first = true;
  FaultOnATransactionThenRerun(cue);
}
TEST_F(WritebackServerTest, AResetBeforeTheServerSawItLosesNothingAndDuplicatesNothing) {
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kReset;
  FaultOnATransactionThenRerun(cue);
}

// The race: every transaction reaches the server twice at once (two conditional creates of the
// same identifiers in flight together). Whatever the server lets through, the run's
// search-after-write leaves exactly one live resource per identifier.
TEST_F(WritebackServerTest, ATransactionDeliveredTwiceConcurrentlyLeavesOne) {
  ASSERT_TRUE(Proxy().error().empty()) << Proxy().error();
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kDeliverTwice;
  cue.method = "POST";
  cue.times = 1000;
  Proxy().AddCue(cue);
  std::string out;
  int code = Run(ProxyRunArgs(), &out);
  int doubled = 0;
  for (const auto& r : Proxy().Seen()) doubled += r.fault == "deliver-twice (second copy)";
  EXPECT_GE(doubled, 1) << out;
  Proxy().ClearCues();
  if (code != 0) {
    ASSERT_EQ(Run(ProxyRunArgs()), 0) << out << "\n--- rerun ---\n" << last_output_;
  }
  ExpectExactlyOnce();
  auto before = Snapshot();
  ASSERT_EQ(Run(ProxyRunArgs("--full")), 0) << last_output_;
  EXPECT_EQ(Snapshot(), before);
}

// The same race where the server's conditional create loses it: the second copy creates every
// resource again (its If-None-Exist dropped). The run's search by identifier after writing
// finds the duplicates, keeps the oldest and marks the rest entered-in-error.
TEST_F(WritebackServerTest, DuplicatesTheServerLetThroughAreFoundAndMarked) {
  ASSERT_TRUE(Proxy().error().empty()) << Proxy().error();
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kDeliverTwice;
  cue.method = "POST";
  cue.times = 1;
  cue.twin_without_conditions = true;
  Proxy().AddCue(cue);
  std::string out;
  ASSERT_EQ(Run(ProxyRunArgs(), &out), 0) << out;
  // The first transaction's resources exist twice on the server; one of each is live.
  int marked = 0;
  for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
    for (const Found& f : All(t)) marked += f.status == "entered-in-error";
  }
  EXPECT_GE(marked, 1) << out;
  EXPECT_EQ(out.find("duplicates  0 found"), std::string::npos) << out;
  ExpectExactlyOnce();
  auto before = Snapshot();
  ASSERT_EQ(Run(ProxyRunArgs("--full")), 0) << last_output_;
  EXPECT_EQ(Snapshot(), before);
}

// `run` follows the writeback path `check` reports: a CapabilityStatement without Task means
// ServiceRequests and Flags but no Task; one without any of the three means a dry run.
std::string Capabilities(const std::vector<std::string>& types) {
  std::string rest =
      R"({"resourceType":"CapabilityStatement","status":"active","kind":"instance",)"
      R"("fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server","resource":[)";
  bool first = true;
  for (const std::string& t :
       {std::string("Patient"), std::string("Observation"), std::string("QuestionnaireResponse"),
        std::string("Questionnaire")}) {
    rest += std::string(first ? "" : ",") + R"({"type":")" + t +
            R"(","interaction":[{"code":"read"},{"code":"search-type"}]})";
    first = false;
  }
  for (const std::string& t : types) {
    rest += R"(,{"type":")" + t +
            R"(","interaction":[{"code":"read"},{"code":"create"},{"code":"update"},)"
            R"({"code":"search-type"}]})";
  }
  return rest + "]}]}";
}
TEST_F(WritebackServerTest, RunFollowsTheServersWritebackPathWithoutTask) {
  ASSERT_TRUE(Proxy().error().empty()) << Proxy().error();
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kRespondWith;
  cue.method = "GET";
  cue.path_contains = "/metadata";
  cue.times = 1000;
  cue.respond_body = Capabilities({"ServiceRequest", "Flag"});
  Proxy().AddCue(cue);
  std::string out;
  ASSERT_EQ(Run(ProxyRunArgs(), &out), 0) << out;
  EXPECT_NE(out.find("server allows subset: ServiceRequest+Flag only"), std::string::npos) << out;
  EXPECT_EQ(All("Task").size(), 0u);
  EXPECT_EQ(Live("ServiceRequest").size(), Planned("ServiceRequest").size());
  EXPECT_EQ(Live("Flag").size(), Planned("Flag").size());
  EXPECT_GT(Live("ServiceRequest").size(), 20u);
}
TEST_F(WritebackServerTest, RunIsADryRunWhenTheServerAllowsNoReferralWrites) {
  ASSERT_TRUE(Proxy().error().empty()) << Proxy().error();
  fhir::client::testing::Cue cue;
  cue.fault = fhir::client::testing::Fault::kRespondWith;
  cue.method = "GET";
  cue.path_contains = "/metadata";
  cue.times = 1000;
  cue.respond_body = Capabilities({});
  Proxy().AddCue(cue);
  std::string out;
  ASSERT_EQ(Run(ProxyRunArgs(), &out), 0) << out;
  EXPECT_NE(out.find("the server allows no referral writes"), std::string::npos) << out;
  EXPECT_EQ(Proxy().Count("POST", "/fhir"), 0);
  EXPECT_EQ(Proxy().Count("PUT", "/fhir"), 0);
  EXPECT_TRUE(Snapshot().empty());
}

// An SDOHCC Task needs a requester: a route that writes Tasks without one is a config error
// (exit 2, naming the key) and nothing is written.
TEST_F(WritebackServerTest, ATaskRouteWithoutARequesterIsAConfigError) {
  UseConfig("  batch_size: 8\n");
  std::string text = ReadFile(config_);
  // The first route in the file is social-work: drop its requester line.
  const std::string line = "      requester: Organization/sdoh-bridge-clinic\n";
  size_t at = text.find(line);
  ASSERT_NE(at, std::string::npos);
  ASSERT_LT(at, text.find("transportation:"));
  text.erase(at, line.size());
  std::ofstream(config_) << text;
  std::string out;
  EXPECT_EQ(Run(RunArgs(), &out), 2) << out;
  EXPECT_NE(out.find("referrals.routes.social-work.requester"), std::string::npos) << out;
  EXPECT_TRUE(Snapshot().empty());
}

// A screening deleted from the server is invisible to an incremental pass; a --full pass
// notices it (its evidence answers 410 Gone) and retracts what it alone justified.
TEST_F(WritebackServerTest, AFullPassFindsADeletedScreeningAndRetracts) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  std::string cmd = "curl -s -o /dev/null -w '%{http_code}' -X DELETE " + server_.base_url() +
                    "/QuestionnaireResponse/p03-hvs";
  FILE* p = popen(cmd.c_str(), "r");
  char code[8] = {0};
  size_t n = fread(code, 1, sizeof code - 1, p);
  pclose(p);
  ASSERT_GT(n, 0u);
  ASSERT_EQ(code[0], '2') << code;
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  ExpectFoodOfPat03Retracted(last_output_);
}

// The admin withdraws rule-set version 1.0.0 (writeback.withdrawn_rulesets) and ships 1.1.0,
// whose AHC utilities rule no longer counts "Yes" (only "Already shut off"). A pass revokes the
// utilities referrals 1.0.0 alone justified; every other referral stands.
TEST_F(WritebackServerTest, AWithdrawnRulesetVersionRetractsWhatItAloneJustified) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  std::set<std::string> utilities_before;
  for (const auto& [id, list] : Live("ServiceRequest")) {
    if (NeedOf(list[0]) == "utilities") utilities_before.insert(list[0].id);
  }
  ASSERT_FALSE(utilities_before.empty());
  std::string rules = ReadFile(kSource + "/config/rules/sdoh-default.yaml");
  const std::string old_version = "version: \"1.0.0\"";
  ASSERT_NE(rules.find(old_version), std::string::npos);
  rules.replace(rules.find(old_version), old_version.size(), "version: \"1.1.0\"");
  const std::string old_when = "question: 96779-4, in: [LA33-6, LA32002-0]";
  ASSERT_NE(rules.find(old_when), std::string::npos);
  rules.replace(rules.find(old_when), old_when.size(), "question: 96779-4, in: [LA32002-0]");
  const std::string rules_path = (out_ / "rules-1.1.0.yaml").string();
  std::ofstream(rules_path) << rules;
  UseConfig("  withdrawn_rulesets: [\"1.0.0\"]\n");
  std::string text = ReadFile(config_);
  const std::string default_rules = kSource + "/config/rules/sdoh-default.yaml";
  ASSERT_NE(text.find(default_rules), std::string::npos) << text;
  text.replace(text.find(default_rules), default_rules.size(), rules_path);
  std::ofstream(config_) << text;
  // The ledger and cursor of the first run live in out_ too: a --full pass re-reads everyone.
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  int revoked = 0, active_other = 0;
  for (const Found& f : All("ServiceRequest")) {
    if (NeedOf(f) == "utilities") {
      revoked += f.status == "revoked";
    } else {
      // Possible (interpreter) needs are draft proposals (issue 14 item 2); none is revoked.
      EXPECT_EQ(f.status, NeedOf(f) == "interpreter" && f.status == "draft" ? "draft" : "active")
          << f.identifier;
      ++active_other;
    }
  }
  EXPECT_GE(revoked, 1) << last_output_;
  EXPECT_GT(active_other, 20);
  for (const Found& t : All("Task")) {
    if (NeedOf(t) == "utilities" && t.status != "requested") {
      EXPECT_EQ(t.status, "cancelled") << t.identifier;
    }
  }
  std::string audit = ReadFile(out_ / "audit.jsonl");
  EXPECT_NE(audit.find("\"reason\":\"ruleset-withdrawn\""), std::string::npos);
}

TEST_F(WritebackServerTest, RevokeUndoesEverythingOneRunWrote) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  const std::string run_id = RunId();
  std::string out;
  ASSERT_EQ(
      Run("revoke --run " + run_id + " --source " + server_.base_url() + " --out " + out_.string(),
          &out),
      0)
      << out;
  for (const Found& f : All("ServiceRequest")) EXPECT_EQ(f.status, "revoked") << f.id;
  for (const Found& f : All("Task")) EXPECT_EQ(f.status, "cancelled") << f.id;
  for (const Found& f : All("Flag")) EXPECT_EQ(f.status, "entered-in-error") << f.id;
  EXPECT_NE(
      Run("revoke --run no-such-run --source " + server_.base_url() + " --out " + out_.string()),
      0);
}

TEST_F(WritebackServerTest, AuditLogAndLedgerHoldNoNamesOrBirthDates) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  std::string audit = ReadFile(out_ / "audit.jsonl");
  std::string ledger = ReadFile(out_ / "ledger.sqlite") + ReadFile(out_ / "ledger.sqlite-wal");
  ASSERT_FALSE(audit.empty());
  EXPECT_NE(audit.find("\"http_status\":201"), std::string::npos);
  int checked = 0;
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/Patient.ndjson"))) {
    rapidjson::Document p;
    p.Parse(l.c_str());
    std::vector<std::string> secrets;
    if (p.HasMember("birthDate")) secrets.push_back(p["birthDate"].GetString());
    if (p.HasMember("name")) {
      for (const auto& n : p["name"].GetArray()) {
        if (n.HasMember("family")) secrets.push_back(n["family"].GetString());
        if (n.HasMember("given")) {
          for (const auto& g : n["given"].GetArray()) secrets.push_back(g.GetString());
        }
      }
    }
    for (const std::string& s : secrets) {
      if (s.size() < 3) continue;
      ++checked;
      EXPECT_EQ(audit.find(s), std::string::npos) << "audit log holds '" << s << "'";
      EXPECT_EQ(ledger.find(s), std::string::npos) << "ledger holds '" << s << "'";
    }
  }
  EXPECT_GT(checked, 100);
  for (const char* f : {"audit.jsonl", "ledger.sqlite"}) {
    EXPECT_EQ(fs::status(out_ / f).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write)
        << f;
  }
}

// Issue 13, defect 1: server B holds, under one of the ledger's server ids, an unrelated
// referral (another subject and identifier); `revoke` reads each resource first and leaves
// anything that is not what the ledger recorded untouched, reported as skipped.
TEST_F(WritebackServerTest, RevokeSkipsAResourceThatIsNotWhatTheLedgerRecorded) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  const std::string run_id = RunId();
  auto srs = All("ServiceRequest");
  ASSERT_GE(srs.size(), 2u);
  rapidjson::Document foreign;
  // 1: another system's identifier and another subject (server B's own referral).
  foreign.Parse(srs[0].json.c_str());
  foreign.RemoveMember("meta");
  foreign["identifier"][0]["system"].SetString("https://server-b.example/referrals");
  foreign["identifier"][0]["value"].SetString("b-123");
  foreign["subject"]["reference"].SetString("Patient/server-b-patient");
  ASSERT_TRUE(client_.fhir->Update("ServiceRequest", srs[0].id, ToJson(foreign)).ok());
  // 2: our identifier, but another subject.
  foreign.Parse(srs[1].json.c_str());
  foreign.RemoveMember("meta");
  foreign["subject"]["reference"].SetString("Patient/server-b-patient");
  ASSERT_TRUE(client_.fhir->Update("ServiceRequest", srs[1].id, ToJson(foreign)).ok());
  const Found b0 = Get("ServiceRequest", srs[0].id), b1 = Get("ServiceRequest", srs[1].id);

  std::string out;
  ASSERT_EQ(Run(RevokeArgs(run_id), &out), 0) << out;
  for (const Found* b : {&b0, &b1}) {
    Found now = Get("ServiceRequest", b->id);
    EXPECT_EQ(now.version, b->version) << b->id << " was changed\n" << out;
    EXPECT_EQ(now.status, "active") << b->id;
    EXPECT_NE(out.find("skipped ServiceRequest/" + b->id + ": not-ours"), std::string::npos) << out;
  }
  EXPECT_NE(out.find("2 skipped (not as the ledger recorded them)"), std::string::npos) << out;
  for (const Found& f : All("ServiceRequest")) {
    if (f.id != b0.id && f.id != b1.id) {
      EXPECT_EQ(f.status, "revoked") << f.id;
    }
  }
  const std::string audit = ReadFile(out_ / "audit.jsonl");
  EXPECT_NE(audit.find("\"event\":\"skip\""), std::string::npos);
  EXPECT_NE(audit.find("\"server_id\":\"ServiceRequest/" + b0.id + "\""), std::string::npos);
}

// Issue 13, defect 1: retraction, too, changes only what the ledger recorded: a referral with
// our identifier system that this ledger never wrote stays as it is.
TEST_F(WritebackServerTest, RetractionLeavesAReferralTheLedgerDidNotRecord) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  const Found* ours = nullptr;
  auto srs = All("ServiceRequest");
  for (const Found& f : srs) {
    if (NeedOf(f) == "food" && f.json.find("Patient/pat03") != std::string::npos) ours = &f;
  }
  ASSERT_NE(ours, nullptr);
  const std::string ours_id = ours->id;
  rapidjson::Document other;
  other.Parse(ours->json.c_str());
  other.RemoveMember("meta");
  other["id"].SetString("not-in-the-ledger");
  // A format-1 value (still recognised as pat03's food referral) that no ledger recorded.
  other["identifier"][0]["value"].SetString("food-00000000000000000000000000000000");
  ASSERT_TRUE(client_.fhir->Update("ServiceRequest", "not-in-the-ledger", ToJson(other)).ok());
  const Found before = Get("ServiceRequest", "not-in-the-ledger");

  std::string qr = OriginalQr("p03-hvs");
  qr.replace(qr.find("\"status\":\"completed\""), 20, "\"status\":\"entered-in-error\"");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  EXPECT_EQ(Get("ServiceRequest", ours_id).status, "revoked") << last_output_;
  const Found after = Get("ServiceRequest", "not-in-the-ledger");
  EXPECT_EQ(after.version, before.version) << last_output_;
  EXPECT_EQ(after.status, "active");
  EXPECT_NE(last_output_.find("skipped: not as the ledger recorded it"), std::string::npos)
      << last_output_;
}

// Issue 13, defect 2: a referral the care team completed stays completed; it is reported.
// Cancelled Tasks carry a statusReason.
TEST_F(WritebackServerTest, RevokeLeavesACompletedReferralCompleted) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  const std::string run_id = RunId();
  auto srs = All("ServiceRequest");
  ASSERT_FALSE(srs.empty());
  rapidjson::Document done;
  done.Parse(srs[0].json.c_str());
  done.RemoveMember("meta");
  done["status"].SetString("completed");
  ASSERT_TRUE(client_.fhir->Update("ServiceRequest", srs[0].id, ToJson(done)).ok());
  const Found completed = Get("ServiceRequest", srs[0].id);

  std::string out;
  ASSERT_EQ(Run(RevokeArgs(run_id), &out), 0) << out;
  Found now = Get("ServiceRequest", completed.id);
  EXPECT_EQ(now.status, "completed") << out;
  EXPECT_EQ(now.version, completed.version);
  EXPECT_NE(out.find("skipped ServiceRequest/" + completed.id + ": final (completed)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("1 skipped (final on the server, left as is)"), std::string::npos) << out;
  int cancelled = 0;
  for (const Found& t : All("Task")) {
    EXPECT_EQ(t.status, "cancelled") << t.id;
    rapidjson::Document d;
    d.Parse(t.json.c_str());
    ASSERT_TRUE(d.HasMember("statusReason") && d["statusReason"].HasMember("text")) << t.json;
    EXPECT_NE(std::string(d["statusReason"]["text"].GetString()).find(run_id), std::string::npos);
    ++cancelled;
  }
  EXPECT_GT(cancelled, 0);
}

// Issue 13, defect 2: an inactivated Flag gets period.end; a Task cancelled by a retraction
// gets a statusReason.
TEST_F(WritebackServerTest, AnInactivatedFlagEndsAndARetractedTaskSaysWhy) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  std::string qr = OriginalQr("p03-hvs");
  for (size_t pos; (pos = qr.find("LA6729-3")) != std::string::npos;)
    qr.replace(pos, 8, "LA28398-8");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  auto flags = Live("Flag");
  ASSERT_EQ(flags[FlagIdentifier("pat03", "food")].size(), 1u);
  rapidjson::Document f;
  f.Parse(flags[FlagIdentifier("pat03", "food")][0].json.c_str());
  EXPECT_EQ(std::string(f["status"].GetString()), "inactive");
  ASSERT_TRUE(f.HasMember("period") && f["period"].HasMember("end")) << ToJson(f);

  qr = OriginalQr("p03-hvs");
  qr.replace(qr.find("\"status\":\"completed\""), 20, "\"status\":\"entered-in-error\"");
  ASSERT_TRUE(client_.fhir->Update("QuestionnaireResponse", "p03-hvs", qr).ok());
  ASSERT_EQ(Run(RunArgs("--full")), 0) << last_output_;
  int cancelled = 0;
  for (const Found& t : All("Task")) {
    if (t.status != "cancelled") continue;
    rapidjson::Document d;
    d.Parse(t.json.c_str());
    ASSERT_TRUE(d.HasMember("statusReason") && d["statusReason"].HasMember("text")) << t.json;
    EXPECT_NE(std::string(d["statusReason"]["text"].GetString()).find("screening-entered-in-error"),
              std::string::npos);
    ++cancelled;
  }
  EXPECT_EQ(cancelled, 1) << last_output_;
}

// Issue 13, defect 3: ledger.sqlite mode 0400, the run as a user without root's privileges
// (a forked child that drops to nobody): refused before anything is sent, exit 1, the mode
// left as it was.
TEST_F(WritebackServerTest, ALedgerThisUserCannotWriteStopsTheRunBeforeAnythingIsSent) {
  // As root the run is made as `nobody`, who must reach the binary and the source tree: a
  // checkout below a 0700 folder (e.g. `mktemp -d`) is out of its reach.
  if (::geteuid() == 0 && !NobodyCanRun()) {
    GTEST_SKIP() << "user nobody cannot run " << SDOH_BRIDGE_BIN << " or read " << SDOH_SOURCE_DIR
                 << " (a folder above it is not world-searchable)";
  }
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  auto flags = Live("Flag");
  ASSERT_EQ(flags[FlagIdentifier("pat03", "food")].size(), 1u);
  Delete("Flag",
         flags[FlagIdentifier("pat03", "food")][0].id);  // so the next run has something to write
  const auto before = Snapshot();
  if (::geteuid() == 0) {
    for (const auto& e : fs::recursive_directory_iterator(out_)) {
      ASSERT_EQ(::lchown(e.path().c_str(), 65534, 65534), 0) << e.path();
    }
    ASSERT_EQ(::chown(out_.c_str(), 65534, 65534), 0);
  }
  const fs::path ledger = out_ / "ledger.sqlite";
  ASSERT_EQ(::chmod(ledger.c_str(), 0400), 0);
  EXPECT_EQ(RunAsNobody(RunArgs("--full")), 1) << last_output_;
  EXPECT_NE(last_output_.find("the ledger " + ledger.string() + " is not writable"),
            std::string::npos)
      << last_output_;
  EXPECT_EQ(Snapshot(), before) << last_output_;
  struct stat st;
  ASSERT_EQ(::stat(ledger.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0400u);
}

// Issue 13, defect 3: a ledger write that fails mid-run (failpoint ledger-write-error: the
// first, then a later one) stops writing to the server: exit 1, the summary says why, and a
// clean rerun leaves exactly the plan.
TEST_F(WritebackServerTest, AFailedLedgerWriteStopsWritingToTheServer) {
  const auto before = Snapshot();
  EXPECT_EQ(Run(RunArgs(), nullptr, "SDOH_FAILPOINT=ledger-write-error:1"), 1) << last_output_;
  EXPECT_NE(last_output_.find("the ledger could not be written"), std::string::npos)
      << last_output_;
  EXPECT_EQ(Snapshot(), before) << "written to the server without a ledger record";
  EXPECT_EQ(Run(RunArgs("--full"), nullptr, "SDOH_FAILPOINT=ledger-write-error:120"), 1)
      << last_output_;
  EXPECT_NE(last_output_.find("nothing more was sent"), std::string::npos) << last_output_;
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  ExpectExactlyOnce();
}

// Issue 13, defect 4: the ledger is bound to the server it was first used with; the same
// ledger against another base URL (the test server behind a second origin) is refused (exit 2)
// unless --rebind-ledger, and the sync cursors are per server.
TEST_F(WritebackServerTest, ALedgerIsBoundToItsServerAndCursorsArePerServer) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  const std::string run_id = RunId();
  const auto before = Snapshot();
  const std::string a = server_.base_url(), b = OtherBase();
  const std::string run_b = "run --config " + kSource + "/config/sdoh-bridge.yaml --source " + b +
                            " --out " + out_.string();
  EXPECT_EQ(Run(run_b), 2) << last_output_;
  EXPECT_NE(last_output_.find("is bound to the server " + a), std::string::npos) << last_output_;
  EXPECT_NE(last_output_.find("--rebind-ledger"), std::string::npos) << last_output_;
  EXPECT_EQ(Run(RevokeArgs(run_id, b)), 2) << last_output_;
  EXPECT_EQ(Snapshot(), before);

  ASSERT_EQ(Run(run_b + " --rebind-ledger"), 0) << last_output_;
  EXPECT_NE(last_output_.find("full pass"), std::string::npos) << last_output_;  // no cursor
  EXPECT_NE(last_output_.find("ledger rebound from " + a), std::string::npos) << last_output_;
  EXPECT_EQ(Snapshot(), before);  // the same server: everything was there already
  ASSERT_EQ(Run(run_b), 0) << last_output_;
  EXPECT_NE(last_output_.find("incremental pass"), std::string::npos) << last_output_;
  EXPECT_EQ(Run(RunArgs()), 2) << last_output_;  // now bound to b
}

// Issue 13, defect 12: a dangling ledger.sqlite.lock symlink is refused with an error naming
// it, and its target is not created; nothing is written.
TEST_F(WritebackServerTest, ADanglingLockSymlinkIsRefusedAndItsTargetNotCreated) {
  const fs::path target = out_ / "created-through-the-lock-symlink";
  fs::create_symlink(target, out_ / "ledger.sqlite.lock");
  const auto before = Snapshot();
  EXPECT_EQ(Run(RunArgs()), 1) << last_output_;
  EXPECT_NE(last_output_.find((out_ / "ledger.sqlite.lock").string() + " is a symlink"),
            std::string::npos)
      << last_output_;
  EXPECT_FALSE(fs::exists(fs::symlink_status(target)));
  EXPECT_EQ(Snapshot(), before);
}

// Issue 13, defect 12: the ledger's -shm and -wal, the ledger itself, the audit log and the
// outputs are never reached through a symlink (nor chmod'ed through one): each is refused with
// an error naming it, and the file it points to is left as it was.
TEST_F(WritebackServerTest, SymlinksInTheOutFolderAreNotFollowed) {
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;
  const fs::path victim = out_ / "victim";
  for (const char* name : {"ledger.sqlite-shm", "ledger.sqlite-wal", "ledger.sqlite", "audit.jsonl",
                           "flags.ndjson", "Task.ndjson.tmp"}) {
    const fs::path link = out_ / name;
    const fs::path moved = out_ / (std::string(name) + ".moved");
    if (fs::exists(fs::symlink_status(link))) fs::rename(link, moved);
    std::ofstream(victim) << "untouched";
    ASSERT_EQ(::chmod(victim.c_str(), 0644), 0);
    fs::create_symlink(victim, link);
    EXPECT_NE(Run(RunArgs()), 0) << name << "\n" << last_output_;
    EXPECT_NE(last_output_.find(link.string() + " is a symlink"), std::string::npos)
        << name << "\n"
        << last_output_;
    EXPECT_EQ(ReadFile(victim), "untouched") << name;
    struct stat st;
    ASSERT_EQ(::stat(victim.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u) << name << " chmod'ed through the symlink";
    fs::remove(link);
    if (fs::exists(fs::symlink_status(moved))) fs::rename(moved, link);
  }
  ASSERT_EQ(Run(RunArgs()), 0) << last_output_;  // all back: the ledger works as before
}

}  // namespace
