// Issue 15 item 5: the report's referral funnel against the real FHIR test server, on a
// population from bench/generate_population. `run --now 2025-01-15` writes the referrals; the
// test plays the community organisations with a script over the referral Tasks (in order of
// patient and need, case i % 8):
//   0 left requested                          → stalled (not accepted within 7 days)
//   1 accepted 2025-06-20                     → accepted 156 days after authoring, not stalled
//   2 in-progress on day 3..6                 → accepted, stalled (no change for 30 days)
//   3 completed on day 10..29 with an output  → accepted and completed that day
//   4 rejected on day 2, "Could not reach the patient"            → bounced
//   5 failed on day 5, "Service area does not cover the address"  → bounced
//   6 accepted on day 3, seen by a pass (--now 2025-01-20), then cancelled by the performer
//     "Could not reach the patient" → accepted (only the ledger knows it) and bounced
//   7 accepted on day 4, seen by a pass, then completed on day 12 with an output
// The expected funnel is computed here by hand from the run's flags.ndjson, the Patient
// resources, the ServiceRequests on the server and the script, and compared with the report's
// numbers per need and per gender, the medians, the bounced reasons and the outreach backlog
// (against `sdoh-bridge outreach` at the same instant); then with suppression, nothing can be
// solved back and the page passes the browser checks.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "fhir/datetime.h"
#include "plugin/referrals/identifiers.h"
#include "tests/report/report_test_support.h"
#include "tests/support/server_samples.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
using sdoh::report::testing::Counts;
using sdoh::report::testing::FindRow;
using sdoh::report::testing::FindTable;
using sdoh::report::testing::MedianValue;
using sdoh::report::testing::ToJson;
using Strings = std::vector<std::string>;

const std::string kSource = SDOH_SOURCE_DIR;
const std::string kSystem = "urn:sdoh-bridge:referral";  // config/sdoh-bridge.yaml
const std::string kConfig = kSource + "/config/sdoh-bridge.yaml";
constexpr int64_t kDay = 86'400'000'000;

fhir::InstantMicros At(const std::string& s) {
  auto t = fhir::ParseFhirDateTime(s, fhir::TimeZone::Utc());
  EXPECT_TRUE(t.has_value()) << s;
  return t.value_or(0);
}

// Whole days from the referrals' authoredOn (the first run's --now).
int64_t Days(const std::string& instant) {
  return (At(instant) - At("2025-01-15T00:00:00Z")) / kDay;
}

std::string Day(int d) {  // 2025-01-15 + d days, as an instant
  return fhir::FormatInstantUtc(At("2025-01-15T00:00:00Z") + d * kDay);
}

std::string Median(std::vector<int64_t> v) {
  if (v.empty()) return "null";
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double m = n % 2 ? static_cast<double>(v[n / 2])
                         : (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", m);
  return buf;
}

// What the script did to one referral Task, and what the funnel should make of it.
struct Scripted {
  bool accepted = false, completed = false, bounced = false, stalled = false;
  std::optional<int64_t> to_acceptance, to_completion;
  std::string bounce_status, reason;
};

// Hand-made funnel counts: screened, positive, referred, accepted, completed, bounced, stalled.
struct Expected {
  int64_t n[7] = {0, 0, 0, 0, 0, 0, 0};
  std::vector<int64_t> to_acceptance, to_completion;
  Strings counts(bool with_screened) const {
    Strings s;
    for (int i = with_screened ? 0 : 1; i < 7; ++i) s.push_back(std::to_string(n[i]));
    return s;
  }
};

class ReportFunnelServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    work_ = sdoh::test::FreshTestDir(
        "sdoh-report-funnel", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto g = sdoh::test::RunBinary(SDOH_GENERATOR_BIN, "--patients 150 --seed 11 --out " +
                                                           (work_ / "pop" / "samples").string());
    ASSERT_EQ(g.exit_code, 0) << g.output;
    std::string failed = sdoh::test::LoadSamples(*client_.fhir, (work_ / "pop").string());
    ASSERT_TRUE(failed.empty()) << failed;
  }
  void TearDown() override {
    std::error_code ec;
    if (std::getenv("SDOH_KEEP") == nullptr) fs::remove_all(work_, ec);  // SDOH_KEEP=1: look
  }

  sdoh::test::CliResult Cli(const std::string& args) {
    return sdoh::test::RunBinary(SDOH_BRIDGE_BIN, args);
  }

  static const sdoh::Catalog& Catalog() {
    static const std::unique_ptr<sdoh::Catalog> catalog =
        std::move(*sdoh::Catalog::Load(kSource + "/mappings"));
    return *catalog;
  }

  // Our resources of `type` (identifier under kSystem, referral kinds only): (patient, need) →
  // the server's JSON.
  std::map<std::pair<std::string, std::string>, std::string> Ours(const std::string& type) {
    std::map<std::pair<std::string, std::string>, std::string> out;
    auto pager = client_.fhir->Pages(type, {{"_count", "1000"}});
    while (true) {
      auto more = pager.Next();
      EXPECT_TRUE(more.ok()) << more.error().ToString();
      if (!more.ok() || !more.value()) break;
      if (!pager.page().HasMember("entry")) continue;
      for (const auto& e : pager.page()["entry"].GetArray()) {
        const auto& r = e["resource"];
        if (!r.HasMember("identifier")) continue;
        for (const auto& id : r["identifier"].GetArray()) {
          if (id["system"].GetString() != kSystem) continue;
          const char* subject = type == "Task" ? "for" : "subject";
          const std::string patient = std::string(r[subject]["reference"].GetString()).substr(8);
          auto parsed = sdoh::ParseIdentifier(id["value"].GetString(), patient, Catalog());
          const auto kind =
              type == "Task" ? sdoh::IdentifierKind::kTask : sdoh::IdentifierKind::kServiceRequest;
          if (!parsed || parsed->kind != kind) continue;
          out[{patient, parsed->need}] = ToJson(r);
        }
      }
    }
    return out;
  }

  // The performer's PUT: status, lastModified, and a reason or an output. Returns the new
  // version's meta.lastUpdated.
  std::string Move(const std::string& id, const std::string& status, const std::string& when,
                   const std::string& reason = "", bool output = false) {
    auto current = client_.fhir->Read("Task", id);
    EXPECT_TRUE(current.ok() && current->body);
    if (!current.ok() || !current->body) return "";
    rapidjson::Document d;
    d.Parse(ToJson(*current->body).c_str());
    auto& a = d.GetAllocator();
    d["status"].SetString(status.c_str(), a);
    d.RemoveMember("meta");
    d.RemoveMember("lastModified");
    d.AddMember("lastModified", rapidjson::Value(when.c_str(), a), a);
    if (!reason.empty()) {
      rapidjson::Value sr(rapidjson::kObjectType);
      sr.AddMember("text", rapidjson::Value(reason.c_str(), a), a);
      d.RemoveMember("statusReason");
      d.AddMember("statusReason", sr, a);
    }
    if (output) {
      rapidjson::Document o;
      o.Parse(
          R"([{"type":{"text":"Resulting procedure"},"valueReference":{"reference":"Procedure/p1"}}])");
      d.RemoveMember("output");
      d.AddMember("output", rapidjson::Value(o, a), a);
    }
    auto r = client_.fhir->Update("Task", id, ToJson(d), "");
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    auto after = client_.fhir->Read("Task", id);
    EXPECT_TRUE(after.ok() && after->body);
    if (!after.ok() || !after->body) return "";
    return (*after->body)["meta"]["lastUpdated"].GetString();
  }

  int Run(const std::string& now) {
    auto r = Cli("run --config " + kConfig + " --source " + server_.base_url() + " --out " +
                 (work_ / "run").string() + " --now " + now + " --allow-large");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code;
  }

  rapidjson::Document Report(const fs::path& out, const Strings& extra) {
    std::string args = "report --config " + kConfig + " --source " + server_.base_url() +
                       " --out " + out.string() + " --from 2023-01-01 --to 2025-06-30 --ledger " +
                       (work_ / "run" / "ledger.sqlite").string();
    for (const std::string& e : extra) args += " " + e;
    auto r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    rapidjson::Document doc;
    doc.Parse(sdoh::test::ReadFile(out / "report.json").c_str());
    EXPECT_FALSE(doc.HasParseError()) << r.output;
    return doc;
  }

  sdoh::test::FhirServerProcess server_{kSource};
  fhir::client::Client client_;
  fs::path work_;
};

TEST_F(ReportFunnelServerTest, FunnelMatchesAHandComputationOnAGeneratedPopulation) {
  ASSERT_EQ(Run("2025-01-15T00:00:00Z"), 0);
  // The script, phase 1: every Task to its status, cases 6 and 7 accepted.
  std::map<std::pair<std::string, std::string>, std::string> tasks = Ours("Task");
  ASSERT_GE(tasks.size(), 40u);
  std::map<std::pair<std::string, std::string>, Scripted> script;
  std::map<std::pair<std::string, std::string>, std::string> task_id;
  std::map<std::pair<std::string, std::string>, std::string> accepted_seen;  // cases 6, 7
  std::set<std::pair<std::string, std::string>> accepted_then_cancelled;     // case 6
  size_t i = 0;
  for (const auto& [key, json] : tasks) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    const std::string id = d["id"].GetString();
    task_id[key] = id;
    Scripted& s = script[key];
    const int k = static_cast<int>(i % 8);
    const int vary = static_cast<int>(i / 8);
    if (k == 0) {
      s.stalled = true;
    } else if (k == 1) {
      Move(id, "accepted", "2025-06-20T00:00:00Z");
      s.accepted = true;
      s.to_acceptance = 156;
    } else if (k == 2) {
      Move(id, "in-progress", Day(3 + vary % 4));
      s.accepted = s.stalled = true;
      s.to_acceptance = 3 + vary % 4;
    } else if (k == 3) {
      Move(id, "completed", Day(10 + vary % 20), "", true);
      s.accepted = s.completed = true;
      s.to_acceptance = s.to_completion = 10 + vary % 20;
    } else if (k == 4) {
      Move(id, "rejected", Day(2), "Could not reach the patient");
      s.bounced = true;
      s.bounce_status = "rejected";
      s.reason = "Could not reach the patient";
    } else if (k == 5) {
      Move(id, "failed", Day(5), "Service area does not cover the address");
      s.bounced = true;
      s.bounce_status = "failed";
      s.reason = "Service area does not cover the address";
    } else {
      accepted_seen[key] = Move(id, "accepted", Day(k == 6 ? 3 : 4));
      if (k == 6) accepted_then_cancelled.insert(key);
    }
    ++i;
  }
  // A pass follows the loop: the ledger records cases 6 and 7 accepted (at meta.lastUpdated).
  ASSERT_EQ(Run("2025-01-20T00:00:00Z"), 0);
  // Phase 2: case 6 cancelled by the performer, case 7 completed.
  for (const auto& [key, seen] : accepted_seen) {
    Scripted& s = script[key];
    s.accepted = true;
    // The earliest time known for the acceptance: the ledger's (the accepted version's
    // meta.lastUpdated) or, when completed now, the completion's lastModified.
    s.to_acceptance = Days(seen);
    if (accepted_then_cancelled.count(key) != 0) {
      Move(task_id[key], "cancelled", Day(9), "Could not reach the patient");
      s.bounced = true;
      s.bounce_status = "cancelled";
      s.reason = "Could not reach the patient";
    } else {
      Move(task_id[key], "completed", Day(12), "", true);
      s.completed = true;
      s.to_completion = 12;
      s.to_acceptance = std::min<int64_t>(*s.to_acceptance, 12);
    }
  }

  // By hand. The cohort: active, living patients (all generated ones are) screened in the period
  // (screenings are dated 2023 and 2024); positive needs from flags.ndjson.
  std::map<std::string, std::string> gender;
  for (const std::string& l :
       sdoh::test::Lines(sdoh::test::ReadFile(work_ / "pop" / "samples" / "Patient.ndjson"))) {
    rapidjson::Document d;
    d.Parse(l.c_str());
    ASSERT_TRUE(d["active"].GetBool());
    ASSERT_FALSE(d.HasMember("deceasedBoolean") || d.HasMember("deceasedDateTime"));
    gender[d["id"].GetString()] = d["gender"].GetString();
  }
  // Screened: a completed QuestionnaireResponse or a final survey Observation panel (the
  // generator writes 1 in 25 AHC responses in-progress, which do not count).
  std::set<std::string> screened;
  for (const char* type : {"QuestionnaireResponse", "Observation"}) {
    for (const std::string& l : sdoh::test::Lines(
             sdoh::test::ReadFile(work_ / "pop" / "samples" / (std::string(type) + ".ndjson")))) {
      rapidjson::Document d;
      d.Parse(l.c_str());
      const std::string status = d["status"].GetString();
      if (status != "completed" && status != "final") continue;
      if (std::string(type) == "Observation" &&
          l.find("\"code\":\"survey\"") == std::string::npos) {
        continue;
      }
      screened.insert(std::string(d["subject"]["reference"].GetString()).substr(8));
    }
  }
  std::map<std::string, std::set<std::string>> positive;  // patient → needs
  for (const std::string& l :
       sdoh::test::Lines(sdoh::test::ReadFile(work_ / "run" / "flags.ndjson"))) {
    rapidjson::Document d;
    d.Parse(l.c_str());
    positive[std::string(d["patient"].GetString()).substr(8)].insert(d["flag"].GetString());
  }
  const auto requests = Ours("ServiceRequest");
  const rapidjson::Document exact = Report(work_ / "exact", {"--min-cell", "1"});
  const Strings needs = [&] {
    Strings n;
    for (const auto& r : (*FindTable(exact, "positive"))["rows"].GetArray()) {
      n.push_back(r["label"].GetString());
    }
    return n;
  }();
  std::map<std::string, Expected> per_need;
  Expected any;
  std::map<std::string, Expected> per_gender;
  std::map<std::string, int64_t> reasons;  // "<reason>/<status>"
  for (const auto& [patient, g] : gender) {
    if (screened.count(patient) == 0) continue;
    bool reached[7] = {true, false, false, false, false, false, false};
    std::vector<int64_t> acc, comp;
    for (const std::string& need : needs) {
      Expected& e = per_need[need];
      ++e.n[0];
      if (positive[patient].count(need) == 0) continue;
      bool r[7] = {true, true, false, false, false, false, false};
      const std::pair<std::string, std::string> key{patient, need};
      r[2] = requests.count(key) != 0;
      if (auto it = script.find(key); r[2] && it != script.end()) {
        const Scripted& s = it->second;
        r[3] = s.accepted;
        r[4] = s.completed;
        r[5] = s.bounced;
        r[6] = s.stalled;
        if (s.accepted && s.to_acceptance) acc.push_back(*s.to_acceptance);
        if (s.completed && s.to_completion) comp.push_back(*s.to_completion);
        if (s.accepted && s.to_acceptance) e.to_acceptance.push_back(*s.to_acceptance);
        if (s.completed && s.to_completion) e.to_completion.push_back(*s.to_completion);
        if (s.bounced) ++reasons[s.reason + "/" + s.bounce_status];
      }
      for (int c = 1; c < 7; ++c) {
        e.n[c] += r[c] ? 1 : 0;
        reached[c] = reached[c] || r[c];
      }
    }
    for (Expected* e : {&any, &per_gender[g]}) {
      for (int c = 0; c < 7; ++c) e->n[c] += reached[c] ? 1 : 0;
      e->to_acceptance.insert(e->to_acceptance.end(), acc.begin(), acc.end());
      e->to_completion.insert(e->to_completion.end(), comp.begin(), comp.end());
    }
  }

  // The report, unsuppressed.
  EXPECT_EQ(Counts(exact, "coverage", "All patients")[0], std::to_string(any.n[0]));
  for (const std::string& need : needs) {
    const Expected& e = per_need[need];
    EXPECT_EQ(Counts(exact, "funnel", need), e.counts(true)) << need;
    EXPECT_EQ(Counts(exact, "positive", need)[0], std::to_string(e.n[1])) << need;
    EXPECT_EQ(MedianValue(exact, "funnel", need, "median_days_to_acceptance"),
              Median(e.to_acceptance))
        << need;
    EXPECT_EQ(MedianValue(exact, "funnel", need, "median_days_to_completion"),
              Median(e.to_completion))
        << need;
  }
  EXPECT_EQ(Counts(exact, "funnel", "Any need"), any.counts(true));
  EXPECT_EQ(MedianValue(exact, "funnel", "Any need", "median_days_to_acceptance"),
            Median(any.to_acceptance));
  EXPECT_EQ(MedianValue(exact, "funnel", "Any need", "median_days_to_completion"),
            Median(any.to_completion));
  for (const auto& [g, e] : per_gender) {
    if (e.n[1] == 0) continue;  // strata without a positive patient have no row
    EXPECT_EQ(Counts(exact, "funnel-gender", g), e.counts(false)) << g;
    EXPECT_EQ(MedianValue(exact, "funnel-gender", g, "median_days_to_completion"),
              Median(e.to_completion))
        << g;
  }
  EXPECT_EQ(Counts(exact, "funnel-gender", "All patients"), any.counts(false));
  // Every case is there: the funnel is not empty at any stage.
  for (int c = 1; c < 7; ++c) EXPECT_GT(any.n[c], 0) << c;

  // Bounced reasons: rejected, failed, cancelled by the performer, bounced, all bounced.
  const std::string reach = "Could not reach the patient";
  const std::string area = "Service area does not cover the address";
  const int64_t all_bounced =
      reasons[reach + "/rejected"] + reasons[reach + "/cancelled"] + reasons[area + "/failed"];
  EXPECT_EQ(Counts(exact, "bounced-reasons", reach),
            (Strings{std::to_string(reasons[reach + "/rejected"]), "0",
                     std::to_string(reasons[reach + "/cancelled"]),
                     std::to_string(reasons[reach + "/rejected"] + reasons[reach + "/cancelled"]),
                     std::to_string(all_bounced)}));
  EXPECT_EQ(Counts(exact, "bounced-reasons", area),
            (Strings{"0", std::to_string(reasons[area + "/failed"]), "0",
                     std::to_string(reasons[area + "/failed"]), std::to_string(all_bounced)}));

  // The outreach backlog is what `outreach` says at the report's as-of.
  auto o = Cli("outreach --config " + kConfig + " --source " + server_.base_url() +
               " --as-of 2025-07-01T00:00:00Z --format csv");
  ASSERT_EQ(o.exit_code, 0) << o.output;
  std::map<std::string, int64_t> due;
  int64_t due_all = 0;
  for (const std::string& l : sdoh::test::Lines(o.output)) {
    if (l.rfind("rank,", 0) == 0 || l.find(",Patient/") == std::string::npos) continue;
    const size_t a = l.find(',', l.find(",Patient/") + 1);
    ++due[l.substr(a + 1, l.find(',', a + 1) - a - 1)];
    ++due_all;
  }
  EXPECT_GT(due_all, 0);
  for (const char* reason : {"never-screened-prior-positive", "incomplete-safety", "overdue",
                             "declined-items", "never-screened"}) {
    EXPECT_EQ(Counts(exact, "outreach", reason)[0], std::to_string(due[reason])) << reason;
  }
  EXPECT_EQ(Counts(exact, "outreach", "All due")[0], std::to_string(due_all));
  sdoh::report::testing::CheckFilesAgree(work_ / "exact");

  // Suppressed (default --min-cell 11): nothing can be solved back; reasons given fewer than 11
  // times are pooled; the files agree and the pages pass the browser checks.
  const rapidjson::Document sup = Report(work_ / "suppressed", {});
  int unknowns = 0;
  EXPECT_EQ(sdoh::report::testing::RecoverableCells(sup, &unknowns), Strings{});
  EXPECT_GT(unknowns, 10);
  for (const auto& r : (*FindTable(sup, "bounced-reasons"))["rows"].GetArray()) {
    const std::string label = r["label"].GetString();
    if (label == reach) {
      EXPECT_GE(reasons[reach + "/rejected"] + reasons[reach + "/cancelled"], 11);
    }
    if (label == area) {
      EXPECT_GE(reasons[area + "/failed"], 11);
    }
  }
  sdoh::report::testing::CheckFilesAgree(work_ / "suppressed");
  for (const char* dir : {"exact", "suppressed"}) {
    auto r =
        sdoh::test::RunBinary("node", kSource + "/tests/report/browser/check_report.mjs --html " +
                                          (work_ / dir / "report.html").string() + " --json " +
                                          (work_ / dir / "report.json").string() + " --axe");
    EXPECT_EQ(r.exit_code, 0) << dir << ":\n" << r.output;
  }
}

}  // namespace
