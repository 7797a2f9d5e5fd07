// `sdoh-bridge report --source <FHIR base URL>` against the real FHIR test server
// (tests/fhir-server) loaded with samples/: `run --now 2025-01-15T00:00:00Z` writes the
// referrals; the test then moves some Tasks (by PUT) to accepted, in-progress, completed,
// rejected and cancelled with a set lastModified, revokes one interpreter ServiceRequest, and
// checks the report's referral status counts and median days open against numbers computed by
// hand, with and without suppression, and the page in headless Chromium (DOM and axe-core).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
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

class ReportServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not skipped: CI runs `npm ci` for the server (scripts/test.sh); a missing server fails.
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    work_ = sdoh::test::FreshTestDir(
        "sdoh-report-server", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    LoadSamples();
  }
  void TearDown() override {
    std::error_code ec;
    if (std::getenv("SDOH_KEEP") == nullptr) fs::remove_all(work_, ec);  // SDOH_KEEP=1: look
  }

  // The samples, in transaction Bundles of PUTs (their ids kept).
  void LoadSamples() {
    std::string failed = sdoh::test::LoadSamples(*client_.fhir, kSource);
    ASSERT_TRUE(failed.empty()) << failed;
  }

  static const sdoh::Catalog& Catalog() {
    static const std::unique_ptr<sdoh::Catalog> catalog =
        std::move(*sdoh::Catalog::Load(std::string(SDOH_SOURCE_DIR) + "/mappings"));
    return *catalog;
  }

  sdoh::test::CliResult Cli(const std::string& args) {
    return sdoh::test::RunBinary(SDOH_BRIDGE_BIN, args);
  }

  // Every resource of `type` with an identifier under kSystem, by patient id then need:
  // the server's JSON.
  std::map<std::string, std::map<std::string, std::string>> Ours(const std::string& type) {
    std::map<std::string, std::map<std::string, std::string>> out;
    auto pager = client_.fhir->Pages(type, {{"_count", "1000"}});
    while (true) {
      auto more = pager.Next();
      EXPECT_TRUE(more.ok()) << more.error().ToString();
      if (!more.ok() || !more.value()) break;
      if (!pager.page().HasMember("entry")) continue;
      for (const auto& e : pager.page()["entry"].GetArray()) {
        const auto& r = e["resource"];
        for (const auto& id : r["identifier"].GetArray()) {
          if (id["system"].GetString() != kSystem) continue;
          const char* subject = type == "Task" ? "for" : "subject";
          const std::string patient = std::string(r[subject]["reference"].GetString()).substr(8);
          // The need from the identifier and the subject (plugin/referrals/identifiers.h).
          auto parsed = sdoh::ParseIdentifier(id["value"].GetString(), patient, Catalog());
          if (!parsed) continue;
          out[patient][parsed->need] = ToJson(r);
        }
      }
    }
    return out;
  }

  // PUTs `resource` with a new status (and lastModified when given).
  void SetStatus(const std::string& type, const std::string& json, const std::string& status,
                 const std::string& last_modified) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    ASSERT_FALSE(d.HasParseError());
    d["status"].SetString(status.c_str(), d.GetAllocator());
    if (!last_modified.empty()) {
      d.RemoveMember("lastModified");
      d.AddMember("lastModified", rapidjson::Value(last_modified.c_str(), d.GetAllocator()),
                  d.GetAllocator());
    }
    auto r = client_.fhir->Update(type, d["id"].GetString(), ToJson(d), "");
    ASSERT_TRUE(r.ok()) << type << ": " << r.error().ToString();
  }

  // `run` writes the referrals, authored 2025-01-15; then the workflow moves on: food Tasks
  // (21, one per patient; by patient id) pat01, pat03, pat04 completed 10 days later, pat05,
  // pat06 completed after 20 days, pat08 and pat12 rejected after 3 and 5 days, pat14
  // cancelled after 1 day, pat18, pat19, pat23 accepted, pat21 in progress; pat25, pat36, pat39,
  // pat48 stay requested, and so do the issue-14 samples pat44 (standalone items), pat53-pat56.
  // pat37's interpreter ServiceRequest (no Task on that route) is revoked.
  void RunAndMoveReferrals() {
    auto r = Cli("run --config " + kConfig + " --source " + server_.base_url() + " --out " +
                 (work_ / "run").string() + " --now 2025-01-15T00:00:00Z");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto tasks = Ours("Task");
    const std::map<std::string, std::pair<std::string, std::string>> food = {
        {"pat01", {"completed", "2025-01-25T00:00:00Z"}},
        {"pat03", {"completed", "2025-01-25T00:00:00Z"}},
        {"pat04", {"completed", "2025-01-25T12:00:00Z"}},  // 10.5 days: 10 whole days
        {"pat05", {"completed", "2025-02-04T00:00:00Z"}},
        {"pat06", {"completed", "2025-02-04T00:00:00Z"}},
        {"pat08", {"rejected", "2025-01-18T00:00:00Z"}},
        {"pat12", {"rejected", "2025-01-20T00:00:00Z"}},
        {"pat14", {"cancelled", "2025-01-16T00:00:00Z"}},
        {"pat18", {"accepted", "2025-01-17T00:00:00Z"}},
        {"pat19", {"accepted", "2025-01-17T00:00:00Z"}},
        {"pat21", {"in-progress", "2025-01-20T00:00:00Z"}},
        {"pat23", {"accepted", "2025-01-17T00:00:00Z"}},
    };
    size_t food_tasks = 0;
    for (const auto& [patient, needs] : tasks) food_tasks += needs.count("food");
    ASSERT_EQ(food_tasks, 21u);
    for (const auto& [patient, change] : food) {
      ASSERT_EQ(tasks[patient].count("food"), 1u) << patient;
      SetStatus("Task", tasks[patient]["food"], change.first, change.second);
    }
    auto requests = Ours("ServiceRequest");
    ASSERT_EQ(requests["pat37"].count("interpreter"), 1u);
    SetStatus("ServiceRequest", requests["pat37"]["interpreter"], "revoked", "");
  }

  rapidjson::Document Report(const fs::path& out, const Strings& extra) {
    std::string args =
        "report --config " + kConfig + " --source " + server_.base_url() + " --out " + out.string();
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

// The period: screenings 2023-2024 and the referrals of 2025-01-15 are in it; open referrals
// count as open until 2025-07-01T00:00Z, 167 days after 2025-01-15.
const Strings kPeriod = {"--from", "2023-01-01", "--to", "2025-06-30"};

TEST_F(ReportServerTest, ReferralStatusPerNeedAndStratum) {
  RunAndMoveReferrals();
  Strings args = kPeriod;
  args.insert(args.end(), {"--min-cell", "1"});
  rapidjson::Document doc = Report(work_ / "exact", args);
  EXPECT_STREQ(doc["referrals_as_of"].GetString(), "2025-07-01T00:00:00Z");
  // Columns: open, accepted or in progress, completed, rejected, cancelled or revoked, total.
  // food: days 1, 3, 5, 10, 10, 10, 20, 20 and 13 x 167 (open or accepted) → median, the 11th
  // of 21, 167.
  EXPECT_EQ(Counts(doc, "referrals", "food"), (Strings{"9", "4", "5", "2", "1", "21"}));
  EXPECT_EQ(MedianValue(doc, "referrals", "food"), "167.0");
  // interpreter: seven ServiceRequests, no Tasks; pat37's revoked (closed after as-of: 167).
  EXPECT_EQ(Counts(doc, "referrals", "interpreter"), (Strings{"6", "0", "0", "0", "1", "7"}));
  EXPECT_EQ(MedianValue(doc, "referrals", "interpreter"), "167.0");
  EXPECT_EQ(Counts(doc, "referrals", "housing-instability"),
            (Strings{"7", "0", "0", "0", "0", "7"}));
  EXPECT_EQ(Counts(doc, "referrals", "transportation"), (Strings{"5", "0", "0", "0", "0", "5"}));
  EXPECT_EQ(Counts(doc, "referrals", "utilities"), (Strings{"4", "0", "0", "0", "0", "4"}));
  EXPECT_EQ(Counts(doc, "referrals", "interpersonal-safety"),
            (Strings{"7", "0", "0", "0", "0", "7"}));
  EXPECT_EQ(Counts(doc, "referrals", "financial-strain"), (Strings{"4", "0", "0", "0", "0", "4"}));
  EXPECT_EQ(Counts(doc, "referrals", "housing-quality"), (Strings{"2", "0", "0", "0", "0", "2"}));
  EXPECT_EQ(Counts(doc, "referrals", "All referrals"), (Strings{"44", "4", "5", "2", "2", "57"}));
  EXPECT_EQ(MedianValue(doc, "referrals", "All referrals"), "167.0");  // 8 short, 41 x 167
  // By gender (samples: 25 referrals of female patients, 24 of male; pat37 is male). Female
  // food: pat01, pat04, pat06 completed, pat08 rejected, pat14 cancelled, pat19 accepted,
  // pat25, pat36, pat39 open; 16 other referrals, open. Male food: pat03, pat05 completed,
  // pat12 rejected, pat18, pat21, pat23 accepted, pat48 open; 17 others, pat37's revoked.
  EXPECT_EQ(Counts(doc, "referrals-gender", "female"), (Strings{"24", "1", "3", "1", "1", "30"}));
  EXPECT_EQ(Counts(doc, "referrals-gender", "male"), (Strings{"20", "3", "2", "1", "1", "27"}));
  EXPECT_EQ(Counts(doc, "referrals-gender", "All referrals"),
            (Strings{"44", "4", "5", "2", "2", "57"}));
  EXPECT_EQ(MedianValue(doc, "referrals-gender", "female"), "167.0");
  // Interpreter need (7 patients) vs an interpreter referral on the server: pat37 (es) has
  // none since its ServiceRequest was revoked.
  EXPECT_EQ(Counts(doc, "interpreter-referrals", "es"), (Strings{"0", "1", "1"}));
  EXPECT_EQ(Counts(doc, "interpreter-referrals", "unknown"), (Strings{"2", "0", "2"}));
  EXPECT_EQ(Counts(doc, "interpreter-referrals", "All patients"), (Strings{"6", "1", "7"}));
  // Every stratification of the referrals adds up to the same 49.
  for (const char* t : {"referrals-language", "referrals-race", "referrals-ethnicity",
                        "referrals-age", "referrals-zip3", "referrals-insurance"}) {
    EXPECT_EQ(Counts(doc, t, "All referrals"), (Strings{"44", "4", "5", "2", "2", "57"})) << t;
  }
  sdoh::report::testing::CheckFilesAgree(work_ / "exact");
  // No ids, references or identifiers in any file.
  for (const auto& entry : fs::directory_iterator(work_ / "exact")) {
    const std::string text = sdoh::test::ReadFile(entry.path());
    for (const char* secret :
         {"pat0", "pat1", "pat3", "Patient/", "ServiceRequest/", "food-", "urn:sdoh-bridge"}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << entry.path() << " has " << secret;
    }
  }

  // Suppressed (default --min-cell 11): food's status counts are all 1-10, its total (16) and
  // median stand; housing-quality (2) is hidden with its median; nothing can be solved back.
  rapidjson::Document sup = Report(work_ / "suppressed", kPeriod);
  EXPECT_EQ(Counts(sup, "referrals", "food"), (Strings{"<11", "<11", "<11", "<11", "<11", "21"}));
  EXPECT_EQ(MedianValue(sup, "referrals", "food"), "167.0");
  EXPECT_EQ(Counts(sup, "referrals", "housing-quality"),
            (Strings{"<11", "0", "0", "0", "0", "<11"}));
  EXPECT_EQ(MedianValue(sup, "referrals", "housing-quality"), "null");
  EXPECT_EQ(Counts(sup, "referrals", "All referrals")[5], "57");
  int unknowns = 0;
  EXPECT_EQ(sdoh::report::testing::RecoverableCells(sup, &unknowns), Strings{});
  EXPECT_GT(unknowns, 20);
  sdoh::report::testing::CheckFilesAgree(work_ / "suppressed");

  // The page with the referral tables, in headless Chromium: DOM against report.json, axe.
  for (const char* dir : {"exact", "suppressed"}) {
    auto r =
        sdoh::test::RunBinary("node", kSource + "/tests/report/browser/check_report.mjs --html " +
                                          (work_ / dir / "report.html").string() + " --json " +
                                          (work_ / dir / "report.json").string() + " --axe");
    EXPECT_EQ(r.exit_code, 0) << dir << ":\n" << r.output;
  }
}

TEST_F(ReportServerTest, ReferralsOutsideThePeriodAreNotCounted) {
  RunAndMoveReferrals();
  // The referrals were authored 2025-01-15: a period ending 2024-12-31 has none.
  rapidjson::Document doc =
      Report(work_ / "2024", {"--from", "2023-01-01", "--to", "2024-12-31", "--min-cell", "1"});
  EXPECT_EQ(Counts(doc, "referrals", "All referrals"), (Strings{"0", "0", "0", "0", "0", "0"}));
  EXPECT_EQ(MedianValue(doc, "referrals", "All referrals"), "null");
  EXPECT_EQ((*FindTable(doc, "referrals"))["rows"].Size(), 1u);
  // The screenings still count (same as from the folder: 42 of 48 screened; pat51's is 2014).
  EXPECT_EQ(Counts(doc, "coverage", "All patients"), (Strings{"49", "6", "55"}));
}

TEST_F(ReportServerTest, FolderSourceHasNoReferralTables) {
  rapidjson::Document doc = Report(work_ / "folder-check", kPeriod);  // server, for contrast
  EXPECT_NE(FindTable(doc, "referrals"), nullptr);
  auto r = Cli("report --config " + kConfig + " --source " + kSource + "/samples --out " +
               (work_ / "folder").string() + " --from 2023-01-01 --to 2025-06-30");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  rapidjson::Document folder;
  folder.Parse(sdoh::test::ReadFile(work_ / "folder" / "report.json").c_str());
  ASSERT_FALSE(folder.HasParseError());
  EXPECT_EQ(FindTable(folder, "referrals"), nullptr);
  EXPECT_FALSE(folder.HasMember("referrals_as_of"));
}

}  // namespace
