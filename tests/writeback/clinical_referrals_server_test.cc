// Issue 14 items 1 and 2 against the real FHIR test server and the real binary: stale
// screenings (no referral, our Flag goes inactive), the large-pass valve, drafts for possible
// needs, a draft activated in the EHR gets its Task, consent-required routes stay drafts until
// an active Consent is on the server.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "plugin/referrals/identifiers.h"
#include "tests/support/server_samples.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
const std::string kSource = SDOH_SOURCE_DIR;
const std::string kSystem = "urn:sdoh-bridge:referral";
// pat01's AHC screening (samples/QuestionnaireResponse.ndjson p01-ahc) was authored
// 2024-03-05T14:20:00-05:00; it gives five needs, each a ServiceRequest, a Task and a Flag.
const std::string kSoonAfter = "2024-04-01T00:00:00Z";
const std::string kTwoYearsAfter = "2026-03-10T00:00:00Z";

using sdoh::test::Lines;
using sdoh::test::ReadFile;

class Server : public sdoh::test::FhirServerProcess {
 public:
  Server() : FhirServerProcess(kSource) {}
};

struct Res {
  std::string id, status, identifier;
  rapidjson::Document doc;
};

class ClinicalReferralsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    out_ = sdoh::test::FreshTestDir(
        "sdoh-clin-out", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(out_, ec);
  }
  void Load(const std::set<std::string>& patients) {
    std::string failed = sdoh::test::LoadSamples(
        *client_.fhir, kSource,
        {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}, patients);
    ASSERT_TRUE(failed.empty()) << failed;
  }
  // The default config with absolute paths, the product's max_age_days (365) and `edits`
  // (text replacements) applied.
  void Config(const std::vector<std::pair<std::string, std::string>>& edits = {}) {
    std::string text = ReadFile(kSource + "/config/sdoh-bridge.yaml");
    std::vector<std::pair<std::string, std::string>> all = {
        {"source: ../samples", "source: " + kSource + "/samples"},
        {"out: ../out", "out: " + out_.string()},
        {"mappings: ../mappings", "mappings: " + kSource + "/mappings"},
        {"- rules/", "- " + kSource + "/config/rules/"},
        {"max_age_days: 3650", "max_age_days: 365"}};
    all.insert(all.end(), edits.begin(), edits.end());
    for (const auto& [from, to] : all) {
      size_t at = text.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      text.replace(at, from.size(), to);
    }
    config_ = (out_ / "cfg.yaml").string();
    std::ofstream(config_) << text;
  }
  int Run(const std::string& extra, std::string* output = nullptr) {
    auto r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "run --config " + config_ + " --source " +
                                                        server_.base_url() + " --out " +
                                                        out_.string() + " " + extra);
    last_output_ = r.output;
    if (output) *output = r.output;
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
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        e["resource"].Accept(w);
        Res r;
        r.doc.Parse(sb.GetString());
        r.id = r.doc["id"].GetString();
        r.status = r.doc["status"].GetString();
        if (r.doc.HasMember("identifier")) {
          for (const auto& id : r.doc["identifier"].GetArray()) {
            if (id.HasMember("system") && id["system"].GetString() == kSystem) {
              r.identifier = id["value"].GetString();
            }
          }
        }
        out.push_back(std::move(r));
      }
    }
    return out;
  }
  // The first of ours for `need`, by its identifier and subject (identifiers.h).
  const Res* ByNeed(const std::vector<Res>& v, const std::string& need) {
    static const std::unique_ptr<sdoh::Catalog> catalog =
        std::move(*sdoh::Catalog::Load(std::string(SDOH_SOURCE_DIR) + "/mappings"));
    for (const Res& r : v) {
      std::string patient;
      for (const char* member : {"subject", "for"}) {
        if (r.doc.HasMember(member) && r.doc[member].HasMember("reference")) {
          std::string ref = r.doc[member]["reference"].GetString();
          patient = ref.substr(ref.rfind('/') + 1);
        }
      }
      auto id = sdoh::ParseIdentifier(r.identifier, patient, *catalog);
      if (id && id->need == need) return &r;
    }
    return nullptr;
  }
  std::string FlagsFile() { return ReadFile(out_ / "flags.ndjson"); }

  Server server_;
  fhir::client::Client client_;
  fs::path out_;
  std::string config_;
  std::string last_output_;
};

TEST_F(ClinicalReferralsServerTest, ATwoYearOldPositiveIsAStaleFlagWithoutReferral) {
  Load({"pat01"});
  Config();
  ASSERT_EQ(Run("--now " + kTwoYearsAfter), 0) << last_output_;
  EXPECT_TRUE(All("ServiceRequest").empty());
  EXPECT_TRUE(All("Task").empty());
  EXPECT_TRUE(All("Flag").empty());
  std::vector<std::string> lines = Lines(FlagsFile());
  ASSERT_EQ(lines.size(), 5u);
  for (const std::string& l : lines) EXPECT_NE(l.find("\"stale\":true"), std::string::npos) << l;
  rapidjson::Document summary;
  summary.Parse(ReadFile(out_ / "summary.json").c_str());
  EXPECT_EQ(summary["referrals_not_planned"]["stale"].GetUint64(), 5u);
  // explain says why and what to do.
  auto ex = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "explain --patient pat01 --config " + config_);
  EXPECT_NE(ex.output.find("days ago: rescreen"), std::string::npos) << ex.output;
}

TEST_F(ClinicalReferralsServerTest, AStaleNeedsActiveFlagGoesInactiveWithAnEnd) {
  Load({"pat01"});
  Config();
  ASSERT_EQ(Run("--now " + kSoonAfter), 0) << last_output_;
  std::vector<Res> flags = All("Flag");
  ASSERT_EQ(flags.size(), 5u);
  for (const Res& f : flags) EXPECT_EQ(f.status, "active");
  const size_t referrals = All("ServiceRequest").size();
  ASSERT_EQ(Run("--full --now " + kTwoYearsAfter), 0) << last_output_;
  for (const Res& f : All("Flag")) {
    EXPECT_EQ(f.status, "inactive") << f.identifier;
    ASSERT_TRUE(f.doc.HasMember("period"));
    EXPECT_STREQ(f.doc["period"]["end"].GetString(), kTwoYearsAfter.c_str());
  }
  EXPECT_EQ(All("ServiceRequest").size(), referrals);  // no new referral
}

TEST_F(ClinicalReferralsServerTest, SixHundredPlannedReferralsStopAtTheValve) {
  // 120 copies of pat01 and its AHC screening: 600 new referrals (default limit 500).
  std::string patient, qr;
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/Patient.ndjson"))) {
    if (l.find("\"id\":\"pat01\"") != std::string::npos) patient = l;
  }
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/QuestionnaireResponse.ndjson"))) {
    if (l.find("\"id\":\"p01-ahc\"") != std::string::npos) qr = l;
  }
  ASSERT_FALSE(patient.empty());
  ASSERT_FALSE(qr.empty());
  auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
    return s;
  };
  for (int batch = 0; batch < 6; ++batch) {
    std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
    for (int k = 0; k < 20; ++k) {
      std::string id = "valve" + std::to_string(batch * 20 + k);
      std::string p = replace_all(patient, "\"id\":\"pat01\"", "\"id\":\"" + id + "\"");
      std::string q = replace_all(replace_all(qr, "\"id\":\"p01-ahc\"", "\"id\":\"q-" + id + "\""),
                                  "Patient/pat01", "Patient/" + id);
      bundle += std::string(k ? "," : "") + R"({"resource":)" + p +
                R"(,"request":{"method":"PUT","url":"Patient/)" + id + R"("}},{"resource":)" + q +
                R"(,"request":{"method":"PUT","url":"QuestionnaireResponse/q-)" + id + "\"}}";
    }
    bundle += "]}";
    auto r = client_.fhir->Transaction(bundle);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }
  ASSERT_EQ(sdoh::test::LoadSamples(*client_.fhir, kSource, {"Questionnaire"}), "");
  Config({{"max_age_days: 365", "max_age_days: 0"}});
  std::string out;
  EXPECT_EQ(Run("--now " + kSoonAfter, &out), 1) << out;
  EXPECT_NE(out.find("more than writeback.max_new_referrals_per_pass (500)"), std::string::npos)
      << out;
  EXPECT_NE(out.find("--allow-large"), std::string::npos) << out;
  EXPECT_TRUE(All("ServiceRequest").empty());
  EXPECT_TRUE(All("Task").empty());
  EXPECT_TRUE(All("Flag").empty());
}

TEST_F(ClinicalReferralsServerTest, AllowLargeLiftsTheValve) {
  Load({"pat01"});
  Config({{"max_new_referrals_per_pass: 500", "max_new_referrals_per_pass: 3"}});
  EXPECT_EQ(Run("--now " + kSoonAfter), 1) << last_output_;
  EXPECT_TRUE(All("ServiceRequest").empty());
  ASSERT_EQ(Run("--now " + kSoonAfter + " --allow-large"), 0) << last_output_;
  EXPECT_EQ(All("ServiceRequest").size(), 5u);
  EXPECT_EQ(All("Task").size(), 5u);
}

TEST_F(ClinicalReferralsServerTest, APossibleInterpreterNeedIsADraftProposalWithoutTask) {
  Load({"pat41"});  // preferred language Vietnamese, no interpreter statement: possible
  Config({{"max_age_days: 365", "max_age_days: 0"},
          {"      resources: [ServiceRequest, Flag]",
           "      resources: [ServiceRequest, Task, Flag]\n      owner: Organization/interp"}});
  ASSERT_EQ(Run(""), 0) << last_output_;
  std::vector<Res> srs = All("ServiceRequest");
  const Res* sr = ByNeed(srs, "interpreter");
  ASSERT_NE(sr, nullptr);
  EXPECT_EQ(sr->status, "draft");
  EXPECT_STREQ(sr->doc["intent"].GetString(), "proposal");
  EXPECT_STREQ(sr->doc["code"]["coding"][0]["code"].GetString(), "T1013");
  EXPECT_TRUE(All("Task").empty());  // even though the route now has a Task
}

TEST_F(ClinicalReferralsServerTest, ADraftActivatedInTheEhrGetsItsTaskOnTheNextPass) {
  Load({"pat41"});
  Config({{"max_age_days: 365", "max_age_days: 0"},
          {"      resources: [ServiceRequest, Flag]",
           "      resources: [ServiceRequest, Task, Flag]\n      owner: Organization/interp"}});
  ASSERT_EQ(Run(""), 0) << last_output_;
  ASSERT_TRUE(All("Task").empty());
  std::vector<Res> srs = All("ServiceRequest");
  const Res* sr = ByNeed(srs, "interpreter");
  ASSERT_NE(sr, nullptr);
  // A clinician confirms and activates it in the EHR.
  rapidjson::Document d;
  d.CopyFrom(sr->doc, d.GetAllocator());
  d["status"].SetString("active");
  d["intent"].SetString("order");
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  ASSERT_TRUE(client_.fhir->Update("ServiceRequest", sr->id, sb.GetString(), "").ok());
  ASSERT_EQ(Run("--full"), 0) << last_output_;
  std::vector<Res> tasks = All("Task");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].identifier, sdoh::TaskIdentifier(sr->identifier));
  EXPECT_EQ(std::string(tasks[0].doc["focus"]["reference"].GetString()),
            "ServiceRequest/" + sr->id);
  EXPECT_EQ(All("ServiceRequest").size(), 1u);
  ASSERT_EQ(Run("--full"), 0) << last_output_;  // and only once
  EXPECT_EQ(All("Task").size(), 1u);
}

TEST_F(ClinicalReferralsServerTest, AConsentRequiredReferralStaysADraftUntilAConsentAppears) {
  Load({"pat01"});
  Config({{"max_age_days: 365", "max_age_days: 0"},
          {"      owner: Organization/care-management",
           "      owner: Organization/care-management\n      consent: required\n"
           "      consent_category: http://loinc.org|59284-0\n"
           "      consent_policy: https://example.org/policy/sdoh-sharing"}});
  ASSERT_EQ(Run(""), 0) << last_output_;
  auto transport = [&] {
    std::vector<Res> srs = All("ServiceRequest");
    const Res* sr = ByNeed(srs, "transportation");
    EXPECT_NE(sr, nullptr);
    return sr ? std::make_pair(sr->status, sr->id) : std::make_pair(std::string(), std::string());
  };
  EXPECT_EQ(transport().first, "draft");
  for (const Res& t : All("Task"))
    EXPECT_EQ(t.identifier.rfind("transportation-", 0), std::string::npos);
  EXPECT_EQ(All("Task").size(), 4u);  // the four social-work referrals
  // A Consent with another category, or another patient's, changes nothing.
  const std::string consent_for_other =
      R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/pat02"},"policy":[{"uri":"https://example.org/policy/sdoh-sharing"}]})";
  ASSERT_TRUE(client_.fhir->Create("Consent", consent_for_other).ok());
  ASSERT_EQ(Run("--full"), 0) << last_output_;
  EXPECT_EQ(transport().first, "draft");
  // The patient's Consent appears: the next pass activates the referral and creates its Task.
  const std::string consent =
      R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/pat01"},"policy":[{"uri":"https://example.org/policy/sdoh-sharing"}]})";
  ASSERT_TRUE(client_.fhir->Create("Consent", consent).ok());
  std::string consent_id;
  for (const Res& c : All("Consent")) {
    if (std::string(c.doc["patient"]["reference"].GetString()) == "Patient/pat01")
      consent_id = c.id;
  }
  ASSERT_EQ(Run("--full"), 0) << last_output_;
  auto [status, sr_id] = transport();
  EXPECT_EQ(status, "active");
  std::vector<Res> srs = All("ServiceRequest");
  const Res* sr = ByNeed(srs, "transportation");
  ASSERT_NE(sr, nullptr);
  EXPECT_STREQ(sr->doc["intent"].GetString(), "order");
  bool listed = false;
  for (const auto& ref : sr->doc["supportingInfo"].GetArray()) {
    listed |= std::string(ref["reference"].GetString()) == "Consent/" + consent_id;
  }
  EXPECT_TRUE(listed) << "Consent/" << consent_id;
  std::vector<Res> tasks = All("Task");
  EXPECT_EQ(tasks.size(), 5u);
  const Res* task = ByNeed(tasks, "transportation");
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(std::string(task->doc["focus"]["reference"].GetString()), "ServiceRequest/" + sr_id);
  EXPECT_EQ(srs.size(), 5u);  // activated in place, not a second one
}

TEST_F(ClinicalReferralsServerTest, AConfirmedNeedSupersedesItsEarlierDraft) {
  Load({"pat41"});  // possible interpreter need: a draft
  Config({{"max_age_days: 365", "max_age_days: 0"}});
  ASSERT_EQ(Run(""), 0) << last_output_;
  std::vector<Res> before = All("ServiceRequest");
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(before[0].status, "draft");
  // The EHR records that an interpreter is required: the need is confirmed.
  auto read = client_.fhir->Read("Patient", "pat41");
  ASSERT_TRUE(read.ok() && read->body);
  rapidjson::Document patient;
  patient.CopyFrom(*read->body, patient.GetAllocator());
  auto& a = patient.GetAllocator();
  if (!patient.HasMember("extension")) {
    patient.AddMember("extension", rapidjson::Value(rapidjson::kArrayType), a);
  }
  rapidjson::Value ext(rapidjson::kObjectType);
  ext.AddMember("url", "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired", a);
  ext.AddMember("valueBoolean", true, a);
  patient["extension"].PushBack(ext, a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  patient.Accept(w);
  ASSERT_TRUE(client_.fhir->Update("Patient", "pat41", sb.GetString(), "").ok());
  ASSERT_EQ(Run("--full"), 0) << last_output_;
  int drafts = 0, revoked = 0, active = 0;
  for (const Res& sr : All("ServiceRequest")) {
    drafts += sr.status == "draft";
    revoked += sr.status == "revoked";
    active += sr.status == "active";
  }
  EXPECT_EQ(drafts, 0);
  EXPECT_EQ(revoked, 1);  // the draft, superseded
  EXPECT_EQ(active, 1);   // the order for the confirmed need
}

}  // namespace
