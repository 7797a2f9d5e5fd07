// Issue 15 item 1, closing the loop, against the real FHIR test server: the test plays the
// community organisation. It moves one referral Task accepted → in-progress → completed (with
// output), rejects one with a reason, and lets the rest stall (a pass with --now 10 days ahead);
// the passes leave exactly the expected follow-up Tasks and ServiceRequest statuses, the
// ledger holds every transition, and a rerun adds nothing.
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "fhir/datetime.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/writeback/ledger.h"
#include "tests/support/server_samples.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
const std::string kSource = SDOH_SOURCE_DIR;
const std::string kSystem = "urn:sdoh-bridge:referral";

using sdoh::test::Lines;
using sdoh::test::ReadFile;

class Server : public sdoh::test::FhirServerProcess {
 public:
  Server() : FhirServerProcess(kSource) {}
};

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

struct Res {
  std::string id, status, identifier, focus, owner, json;
};

class ReferralLoopServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    out_ = sdoh::test::FreshTestDir(
        "sdoh-loop-out", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::string failed = sdoh::test::LoadSamples(
        *client_.fhir, kSource,
        {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"},
        {"pat01", "pat03", "pat04"});
    ASSERT_TRUE(failed.empty()) << failed;
    // The default config with absolute paths, and a care manager on the social-work route.
    std::string text = ReadFile(kSource + "/config/sdoh-bridge.yaml");
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {": ../samples", ": " + kSource + "/samples"},
             {": ../out", ": " + out_.string()},
             {": ../mappings", ": " + kSource + "/mappings"},
             {"- rules/", "- " + kSource + "/config/rules/"}}) {
      text.replace(text.find(from), from.size(), to);
    }
    const std::string owner = "      owner: Organization/social-work-team\n";
    text.replace(text.find(owner), owner.size(),
                 owner + "      care_manager: Organization/care-management\n");
    config_ = (out_ / "cfg.yaml").string();
    std::ofstream(config_) << text;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(out_, ec);
  }

  int Run(const std::string& extra, std::string* output, const std::string& env = "") {
    auto r = sdoh::test::RunBinary(env + SDOH_BRIDGE_BIN, "run --config " + config_ + " --source " +
                                                              server_.base_url() + " --out " +
                                                              out_.string() + " " + extra);
    *output = r.output;
    return r.exit_code;
  }

  std::vector<Res> All(const std::string& type) {
    std::vector<Res> out;
    auto pager = client_.fhir->Pages(type, {{"_count", "1000"}});
    while (true) {
      auto more = pager.Next();
      EXPECT_TRUE(more.ok());
      if (!more.ok() || !more.value()) break;
      if (!pager.page().HasMember("entry")) continue;
      for (const auto& e : pager.page()["entry"].GetArray()) {
        const auto& r = e["resource"];
        Res x{r["id"].GetString(), r["status"].GetString(), "", "", "", ToJson(r)};
        if (r.HasMember("identifier")) {
          for (const auto& id : r["identifier"].GetArray()) {
            if (id.HasMember("system") && id["system"].GetString() == kSystem) {
              x.identifier = id["value"].GetString();
            }
          }
        }
        if (r.HasMember("focus") && r["focus"].HasMember("reference")) {
          x.focus = r["focus"]["reference"].GetString();
        }
        if (r.HasMember("owner") && r["owner"].HasMember("reference")) {
          x.owner = r["owner"]["reference"].GetString();
        }
        out.push_back(std::move(x));
      }
    }
    return out;
  }
  // The performer's update of one Task: status, and optionally statusReason / output.
  void Move(const Res& task, const std::string& status, const std::string& reason = "",
            const std::string& output_ref = "") {
    rapidjson::Document d;
    d.Parse(ReadCurrent(task.id).c_str());
    auto& a = d.GetAllocator();
    d["status"].SetString(status.c_str(), a);
    d.RemoveMember("meta");
    if (!reason.empty()) {
      rapidjson::Value sr(rapidjson::kObjectType);
      sr.AddMember("text", rapidjson::Value(reason.c_str(), a), a);
      d.RemoveMember("statusReason");
      d.AddMember("statusReason", sr, a);
    }
    if (!output_ref.empty()) {
      std::string o = R"([{"type":{"text":"Resulting procedure"},"valueReference":{"reference":")" +
                      output_ref + R"("}}])";
      rapidjson::Document od(&a);
      od.Parse(o.c_str());
      d.AddMember("output", rapidjson::Value(od, a), a);
    }
    auto r = client_.fhir->Update("Task", task.id, ToJson(d));
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }
  std::string ReadCurrent(const std::string& id) {
    auto r = client_.fhir->Read("Task", id);
    EXPECT_TRUE(r.ok());
    return r.ok() && r->body ? ToJson(*r->body) : "{}";
  }
  std::string SrStatus(const std::string& sr_ref) {
    auto r = client_.fhir->Read("ServiceRequest", sr_ref.substr(sr_ref.find('/') + 1));
    return r.ok() && r->body ? (*r->body)["status"].GetString() : "";
  }

  Server server_;
  fhir::client::Client client_;
  fs::path out_;
  std::string config_;
};

TEST_F(ReferralLoopServerTest, PerformerMovesTasksAndThePassesLeaveExactlyTheFollowUps) {
  std::string output;
  ASSERT_EQ(Run("", &output), 0) << output;
  std::vector<Res> referral_tasks;
  for (Res& t : All("Task")) {
    if (t.identifier.rfind("task-", 0) == 0) referral_tasks.push_back(t);
  }
  ASSERT_GE(referral_tasks.size(), 4u) << output;
  std::sort(referral_tasks.begin(), referral_tasks.end(),
            [](const Res& a, const Res& b) { return a.identifier < b.identifier; });
  const Res completed = referral_tasks[0];
  const Res rejected = referral_tasks[1];
  const Res accepted = referral_tasks[2];

  // The organisation works the first: accepted, in-progress, completed with output; a pass
  // after each step records each transition.
  Move(completed, "accepted");
  Move(accepted, "accepted");
  ASSERT_EQ(Run("", &output), 0) << output;
  Move(completed, "in-progress");
  ASSERT_EQ(Run("", &output), 0) << output;
  Move(completed, "completed", "", "Procedure/food-pantry-enrolment");
  Move(rejected, "rejected", "Could not reach the patient");
  ASSERT_EQ(Run("", &output), 0) << output;

  // Exactly one follow-up: the rejected referral, for the care manager, focus that Task.
  auto follow_ups = [&] {
    std::map<std::string, Res> m;
    for (Res& t : All("Task")) {
      if (t.identifier.rfind("followup-", 0) == 0) {
        EXPECT_EQ(m.count(t.identifier), 0u) << "duplicate " << t.identifier;
        m[t.identifier] = t;
      }
    }
    return m;
  };
  auto fu = follow_ups();
  ASSERT_EQ(fu.size(), 1u) << output;
  const std::string declined = sdoh::FollowUpIdentifier(rejected.identifier, "rejected");
  ASSERT_EQ(fu.count(declined), 1u);
  EXPECT_EQ(fu[declined].focus, "Task/" + rejected.id);
  EXPECT_EQ(fu[declined].owner, "Organization/care-management");
  EXPECT_NE(fu[declined].json.find("Referral declined by Organization/social-work-team: Could "
                                   "not reach the patient"),
            std::string::npos)
      << fu[declined].json;
  // The completed referral's ServiceRequest is completed; the rejected one's stays active.
  EXPECT_EQ(SrStatus(completed.focus), "completed");
  EXPECT_EQ(SrStatus(rejected.focus), "active");
  // The chart Flags stay active (nothing in the loop inactivates them).
  for (const Res& f : All("Flag")) EXPECT_EQ(f.status, "active") << f.identifier;

  // Ten days later every Task still `requested` has stalled: one follow-up each; the accepted
  // one (< 30 days) has not.
  const std::string later =
      "--now " + fhir::FormatInstantUtc(fhir::NowMicros() + 10LL * 86400 * 1000000);
  ASSERT_EQ(Run(later, &output), 0) << output;
  std::set<std::string> expected = {declined};
  for (const Res& t : referral_tasks) {
    if (t.id == completed.id || t.id == rejected.id || t.id == accepted.id) continue;
    expected.insert(sdoh::FollowUpIdentifier(t.identifier, "stalled-requested"));
  }
  fu = follow_ups();
  std::set<std::string> got;
  for (const auto& [k, v] : fu) got.insert(k);
  EXPECT_EQ(got, expected) << output;

  // Reruns add nothing (same day, and ten days later again).
  const size_t tasks_before = All("Task").size();
  ASSERT_EQ(Run(later, &output), 0) << output;
  ASSERT_EQ(Run("", &output), 0) << output;
  EXPECT_EQ(All("Task").size(), tasks_before);
  EXPECT_EQ(follow_ups().size(), expected.size());

  // The ledger holds each transition of the completed Task with its time, and the loop rows.
  sdoh::writeback::Ledger ledger;
  ASSERT_TRUE(ledger.OpenForReading((out_ / "ledger.sqlite").string()).ok());
  std::vector<std::string> path;
  for (const auto& t : ledger.Transitions(completed.identifier)) {
    path.push_back(t.from + ">" + t.to);
    EXPECT_FALSE(t.at.empty());
  }
  EXPECT_EQ(path, (std::vector<std::string>{">requested", "requested>accepted",
                                            "accepted>in-progress", "in-progress>completed"}));
  auto rej = ledger.Transitions(rejected.identifier);
  ASSERT_FALSE(rej.empty());
  EXPECT_EQ(rej.back().to, "rejected");
  EXPECT_EQ(rej.back().reason, "Could not reach the patient");
  auto row = ledger.FindLoop(completed.identifier);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->output, "Procedure/food-pantry-enrolment");
  EXPECT_EQ(row->sr_status, "completed");
  // The audit log records the transitions, without the statusReason text.
  const std::string audit = ReadFile(out_ / "audit.jsonl");
  EXPECT_NE(audit.find("in-progress->completed"), std::string::npos);
  EXPECT_EQ(audit.find("Could not reach"), std::string::npos);
}

// Exactly once across crashes: ten passes each end at a failpoint — before or after the Nth
// follow-up Task's conditional create, as a kill -9 would — and no follow-up is ever doubled;
// the next clean pass leaves exactly the expected set, and a rerun adds nothing.
TEST_F(ReferralLoopServerTest, CrashesAroundEachFollowUpNeverDoubleOne) {
  std::string output;
  ASSERT_EQ(Run("", &output), 0) << output;
  std::vector<Res> referral_tasks;
  for (Res& t : All("Task")) {
    if (t.identifier.rfind("task-", 0) == 0) referral_tasks.push_back(t);
  }
  ASSERT_GE(referral_tasks.size(), 5u);
  Move(referral_tasks[0], "rejected", "No capacity");
  Move(referral_tasks[1], "failed", "Could not reach the patient");
  std::set<std::string> expected = {
      sdoh::FollowUpIdentifier(referral_tasks[0].identifier, "rejected"),
      sdoh::FollowUpIdentifier(referral_tasks[1].identifier, "failed")};
  for (size_t i = 2; i < referral_tasks.size(); ++i) {
    expected.insert(sdoh::FollowUpIdentifier(referral_tasks[i].identifier, "stalled-requested"));
  }
  const std::string later =
      "--now " + fhir::FormatInstantUtc(fhir::NowMicros() + 10LL * 86400 * 1000000);
  auto follow_ups = [&] {
    std::map<std::string, int> m;
    for (Res& t : All("Task")) {
      if (t.identifier.rfind("followup-", 0) == 0) ++m[t.identifier];
    }
    return m;
  };
  int crashed = 0;
  for (int n = 1; n <= 5; ++n) {
    for (const char* fp : {"loop-before-follow-up", "loop-after-follow-up"}) {
      const std::string env = "SDOH_FAILPOINT=" + std::string(fp) + ":" + std::to_string(n) + " ";
      int code = Run(later, &output, env);
      if (code == 86) ++crashed;
      EXPECT_TRUE(code == 86 || code == 0) << fp << ":" << n << " " << output;
      for (const auto& [id, count] : follow_ups()) {
        EXPECT_EQ(count, 1) << id << " doubled after " << fp << ":" << n;
        EXPECT_EQ(expected.count(id), 1u) << id;
      }
    }
  }
  EXPECT_GE(crashed, 2);
  ASSERT_EQ(Run(later, &output), 0) << output;
  std::set<std::string> got;
  for (const auto& [id, count] : follow_ups()) {
    EXPECT_EQ(count, 1) << id;
    got.insert(id);
  }
  EXPECT_EQ(got, expected);
  const size_t tasks = All("Task").size();
  ASSERT_EQ(Run(later, &output), 0) << output;
  EXPECT_EQ(All("Task").size(), tasks);
  // Each loop row knows its follow-up, also those confirmed by reconciliation after a crash.
  sdoh::writeback::Ledger ledger;
  ASSERT_TRUE(ledger.OpenForReading((out_ / "ledger.sqlite").string()).ok());
  std::set<std::string> known;
  for (const auto& row : ledger.LoopRows()) {
    if (!row.follow_up.empty()) known.insert(row.follow_up);
  }
  EXPECT_EQ(known, expected);
}

// Item 1, completed: the chart Flag of the completed referral says so (with the date) on the
// next pass, though the patient's screenings did not change (the loop stage edits it); a full
// pass plans the same Flag (no update); 31 days later (flags.after_completion_days 30) it is
// inactive with period.end 30 days after the completion, and stays so; other Flags untouched.
TEST_F(ReferralLoopServerTest, ACompletedReferralsFlagSaysSoAndEndsAfterTheConfiguredDays) {
  std::string output;
  ASSERT_EQ(Run("", &output), 0) << output;
  std::vector<Res> referral_tasks;
  for (Res& t : All("Task")) {
    if (t.identifier.rfind("task-", 0) == 0) referral_tasks.push_back(t);
  }
  ASSERT_GE(referral_tasks.size(), 2u) << output;
  std::sort(referral_tasks.begin(), referral_tasks.end(),
            [](const Res& a, const Res& b) { return a.identifier < b.identifier; });
  const Res done = referral_tasks[0];
  // task-<K>-<E> and flag-<K> name the same (patient, need).
  const std::string flag_id = "flag-" + done.identifier.substr(5, 16);
  auto flags = [&] {
    std::map<std::string, rapidjson::Document> m;
    for (Res& f : All("Flag")) m[f.identifier].Parse(f.json.c_str());
    return m;
  };
  auto before = flags();
  ASSERT_EQ(before.count(flag_id), 1u) << flag_id;
  Move(done, "accepted");
  Move(done, "completed", "", "Procedure/food-pantry-enrolment");
  rapidjson::Document task;
  task.Parse(ReadCurrent(done.id).c_str());
  const std::string completed_at = task["meta"]["lastUpdated"].GetString();
  ASSERT_EQ(Run("", &output), 0) << output;

  auto after = flags();
  const rapidjson::Value& f = after[flag_id];
  EXPECT_STREQ(f["status"].GetString(), "active");
  EXPECT_EQ(std::string(f["code"]["text"].GetString()),
            std::string(before[flag_id]["code"]["text"].GetString()) + " — referral completed " +
                completed_at.substr(0, 10));
  for (auto& [id, d] : after) {
    if (id == flag_id) continue;
    EXPECT_STREQ(d["status"].GetString(), "active") << id;
    EXPECT_EQ(std::string(d["code"]["text"].GetString()).find("referral completed"),
              std::string::npos)
        << id;
  }
  // A full pass evaluates the patient and plans the same Flag: nothing to update.
  const std::string version = f["meta"]["versionId"].GetString();
  ASSERT_EQ(Run("--full", &output), 0) << output;
  EXPECT_EQ(std::string(flags()[flag_id]["meta"]["versionId"].GetString()), version);

  // 31 days on: inactive, ended 30 days after the completion; reruns (incremental and full)
  // leave it so.
  const fhir::InstantMicros t =
      *fhir::ParseFhirDateTime(completed_at, fhir::TimeZone::Utc()) + 31LL * 86400 * 1000000;
  const std::string later = "--now " + fhir::FormatInstantUtc(t);
  ASSERT_EQ(Run(later, &output), 0) << output;
  auto ended = flags();
  EXPECT_STREQ(ended[flag_id]["status"].GetString(), "inactive") << output;
  ASSERT_TRUE(ended[flag_id].HasMember("period"));
  EXPECT_EQ(std::string(ended[flag_id]["period"]["end"].GetString()),
            fhir::FormatInstantUtc(t - 86400LL * 1000000));
  const std::string ended_version = ended[flag_id]["meta"]["versionId"].GetString();
  for (auto& [id, d] : ended) {
    if (id != flag_id) {
      EXPECT_STREQ(d["status"].GetString(), "active") << id;
    }
  }
  ASSERT_EQ(Run(later, &output), 0) << output;
  ASSERT_EQ(Run(later + " --full", &output), 0) << output;
  auto again = flags();
  EXPECT_EQ(again.size(), ended.size()) << "no Flag re-created";
  EXPECT_STREQ(again[flag_id]["status"].GetString(), "inactive");
  EXPECT_EQ(std::string(again[flag_id]["meta"]["versionId"].GetString()), ended_version);
}

// Item 1, exactly once under kill -9 at random points: the whole sample population (about 50
// referral Tasks), two rejected and one completed, then ten passes ten days later, each killed
// with SIGKILL at a random point of its loop stage, then a clean pass: every
// follow-up exists exactly once (one per rejected or stalled Task), and a rerun adds nothing.
TEST_F(ReferralLoopServerTest, RandomKillNineDuringTheLoopNeverDoublesAFollowUp) {
  std::string failed = sdoh::test::LoadSamples(
      *client_.fhir, kSource, {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"},
      {});
  ASSERT_TRUE(failed.empty()) << failed;
  std::string output;
  ASSERT_EQ(Run("", &output), 0) << output;
  std::vector<Res> referral_tasks;
  for (Res& t : All("Task")) {
    if (t.identifier.rfind("task-", 0) == 0) referral_tasks.push_back(t);
  }
  ASSERT_GE(referral_tasks.size(), 20u) << output;
  std::sort(referral_tasks.begin(), referral_tasks.end(),
            [](const Res& a, const Res& b) { return a.identifier < b.identifier; });
  Move(referral_tasks[0], "rejected", "No capacity");
  Move(referral_tasks[1], "failed", "Could not reach the patient");
  Move(referral_tasks[2], "completed", "", "Procedure/p1");
  std::set<std::string> expected = {
      sdoh::FollowUpIdentifier(referral_tasks[0].identifier, "rejected"),
      sdoh::FollowUpIdentifier(referral_tasks[1].identifier, "failed")};
  for (size_t i = 3; i < referral_tasks.size(); ++i) {
    expected.insert(sdoh::FollowUpIdentifier(referral_tasks[i].identifier, "stalled-requested"));
  }
  const std::string later =
      "--now " + fhir::FormatInstantUtc(fhir::NowMicros() + 10LL * 86400 * 1000000);
  const std::string cmd = std::string(SDOH_BRIDGE_BIN) + " run --config " + config_ + " --source " +
                          server_.base_url() + " --out " + out_.string() + " " + later +
                          " >/dev/null 2>&1";
  // Each pass is killed at a random point of the loop stage: once the audit log shows 1 to 5
  // more follow-ups than before it, after a further random 0-20 ms (progress, not time, places
  // the kill, so a slow or a fast machine kills inside the loop alike).
  const fs::path audit = out_ / "audit.jsonl";
  auto follow_ups_audited = [&] {
    size_t n = 0;
    for (const auto& l : Lines(ReadFile(audit))) {
      n += l.find("\"action\":\"follow-up\"") != std::string::npos ? 1 : 0;
    }
    return n;
  };
  std::mt19937 rng(20261203);
  int killed = 0;
  for (int i = 0; i < 10; ++i) {
    const size_t start = follow_ups_audited();
    const size_t at = start + 1 + rng() % 5;
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    bool exited = false;
    while (!exited && follow_ups_audited() < at) {
      exited = waitpid(pid, &status, WNOHANG) == pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 21));
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    if (WIFSIGNALED(status)) ++killed;
  }
  std::cout << killed << " of 10 passes killed by SIGKILL\n";
  EXPECT_GE(killed, 1) << "every pass ended before its kill: the trials proved nothing";
  size_t made = 0;
  for (Res& t : All("Task")) made += t.identifier.rfind("followup-", 0) == 0 ? 1 : 0;
  std::cout << made << " of " << expected.size() << " follow-ups made by the killed passes\n";
  ASSERT_EQ(Run(later, &output), 0) << output;
  std::map<std::string, int> follow_ups;
  for (Res& t : All("Task")) {
    if (t.identifier.rfind("followup-", 0) == 0) ++follow_ups[t.identifier];
  }
  std::set<std::string> got;
  for (const auto& [id, n] : follow_ups) {
    EXPECT_EQ(n, 1) << id << " doubled";
    got.insert(id);
  }
  EXPECT_EQ(got, expected) << killed << " of 10 passes killed";
  const size_t tasks = All("Task").size();
  const size_t flags = All("Flag").size();
  ASSERT_EQ(Run(later, &output), 0) << output;
  EXPECT_EQ(All("Task").size(), tasks);
  EXPECT_EQ(All("Flag").size(), flags);
  EXPECT_EQ(SrStatus(referral_tasks[2].focus), "completed");
}

}  // namespace
