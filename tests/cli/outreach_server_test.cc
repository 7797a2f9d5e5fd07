// Issue 15 item 4, `outreach --write` against the real FHIR test server: one SDOHCC patient
// Task per due patient (complete-questionnaire, the configured form, a neutral description),
// exactly once across reruns; when a screening arrives for a due patient, that patient's Task
// is withdrawn (cancelled) and no other Task changes.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
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

struct OutreachTask {
  std::string status, patient, owner, canonical, description, version, json;
};

class OutreachServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    out_ = sdoh::test::FreshTestDir(
        "sdoh-outreach-out", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::string failed = sdoh::test::LoadSamples(
        *client_.fhir, kSource,
        {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}, {});
    ASSERT_TRUE(failed.empty()) << failed;
    std::string text = ReadFile(kSource + "/config/sdoh-bridge.yaml");
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {": ../samples", ": " + server_.base_url()},
             {": ../out", ": " + out_.string()},
             {": ../mappings", ": " + kSource + "/mappings"},
             {"- rules/", "- " + kSource + "/config/rules/"}}) {
      text.replace(text.find(from), from.size(), to);
    }
    config_ = (out_ / "cfg.yaml").string();
    std::ofstream(config_) << text;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(out_, ec);
  }
  sdoh::test::CliResult Outreach() {
    return sdoh::test::RunBinary(
        SDOH_BRIDGE_BIN, "outreach --config " + config_ + " --as-of 2025-02-15T00:00:00Z --write");
  }
  // Our outreach Tasks by identifier.
  std::map<std::string, OutreachTask> Tasks() {
    std::map<std::string, OutreachTask> out;
    auto found = client_.fhir->Search("Task", {{"_count", "1000"}});
    EXPECT_TRUE(found.ok());
    if (!found.ok() || !found->body->HasMember("entry")) return out;
    for (const auto& e : (*found->body)["entry"].GetArray()) {
      const auto& r = e["resource"];
      std::string id;
      for (const auto& i : r["identifier"].GetArray()) {
        if (i["system"].GetString() == kSystem) id = i["value"].GetString();
      }
      if (id.rfind("outreach-", 0) != 0) continue;
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      r.Accept(w);
      EXPECT_EQ(out.count(id), 0u) << "duplicate " << id;
      out[id] = {r["status"].GetString(),
                 r["for"]["reference"].GetString(),
                 r["owner"]["reference"].GetString(),
                 r["input"][0]["valueCanonical"].GetString(),
                 r["description"].GetString(),
                 r["meta"]["versionId"].GetString(),
                 sb.GetString()};
    }
    return out;
  }

  Server server_;
  fhir::client::Client client_;
  fs::path out_;
  std::string config_;
};

TEST_F(OutreachServerTest, OneTaskPerDuePatientOnceAndWithdrawnWhenAScreeningArrives) {
  auto r = Outreach();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::set<std::string> due;  // from the hand-written expectations
  for (const auto& l : Lines(ReadFile(kSource + "/samples/expected-outreach.ndjson"))) {
    rapidjson::Document d;
    d.Parse(l.c_str());
    due.insert(d["patient"].GetString());
  }
  ASSERT_GE(due.size(), 10u);
  auto tasks = Tasks();
  std::set<std::string> for_patients;
  for (const auto& [id, t] : tasks) {
    for_patients.insert(t.patient);
    EXPECT_EQ(t.status, "requested") << id;
    EXPECT_EQ(t.owner, t.patient) << id;
    EXPECT_EQ(t.canonical, "http://clinic.example.org/fhir/Questionnaire/sdoh-intake");
    EXPECT_EQ(t.description, "Please complete the social needs screening questionnaire");
    EXPECT_NE(t.json.find("\"code\":\"complete-questionnaire\""), std::string::npos) << t.json;
    EXPECT_NE(t.json.find("\"code\":\"questionnaire-category\""), std::string::npos) << t.json;
    // Never the reason: an incomplete safety screen must not show in a patient Task.
    EXPECT_EQ(t.json.find("safety"), std::string::npos) << t.json;
  }
  EXPECT_EQ(for_patients, due);
  EXPECT_EQ(tasks.size(), due.size());
  EXPECT_NE(r.output.find(std::to_string(due.size()) + " patient Task(s) created"),
            std::string::npos)
      << r.output;

  // A rerun finds them all and writes nothing.
  r = Outreach();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 patient Task(s) created, " + std::to_string(due.size()) +
                          " already there, 0 withdrawn"),
            std::string::npos)
      << r.output;
  auto again = Tasks();
  ASSERT_EQ(again.size(), tasks.size());
  for (const auto& [id, t] : again) EXPECT_EQ(t.version, tasks[id].version) << id;

  // pat58 (overdue) is screened on 2025-02-01: its Task is withdrawn, no other changes.
  ASSERT_EQ(due.count("Patient/pat58"), 1u);
  rapidjson::Document qr;
  std::string line;
  for (const auto& l : Lines(ReadFile(kSource + "/samples/QuestionnaireResponse.ndjson"))) {
    if (l.find("\"id\":\"p03-hvs\"") != std::string::npos) line = l;
  }
  qr.Parse(line.c_str());
  ASSERT_FALSE(qr.HasParseError());
  auto& a = qr.GetAllocator();
  qr["id"].SetString("outreach-new-screening", a);
  qr["subject"]["reference"].SetString("Patient/pat58", a);
  qr["authored"].SetString("2025-02-01T10:00:00Z", a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  qr.Accept(w);
  ASSERT_TRUE(
      client_.fhir->Update("QuestionnaireResponse", "outreach-new-screening", sb.GetString(), "")
          .ok());
  r = Outreach();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("\"patient\":\"Patient/pat58\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("0 patient Task(s) created, " + std::to_string(due.size() - 1) +
                          " already there, 1 withdrawn"),
            std::string::npos)
      << r.output;
  auto after = Tasks();
  ASSERT_EQ(after.size(), tasks.size());
  for (const auto& [id, t] : after) {
    if (t.patient == "Patient/pat58") {
      EXPECT_EQ(t.status, "cancelled") << t.json;
      EXPECT_NE(t.json.find("statusReason"), std::string::npos);
    } else {
      EXPECT_EQ(t.status, "requested") << id;
      EXPECT_EQ(t.version, tasks[id].version) << id;
    }
  }
}

TEST_F(OutreachServerTest, WriteNeedsAServerSource) {
  auto r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "outreach --config " + config_ + " --source " +
                                                      kSource + "/samples --write");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--write needs a FHIR server"), std::string::npos) << r.output;
}

}  // namespace
