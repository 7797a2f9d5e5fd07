// Issue 15 item 3, "pick a service that can take it", against the real FHIR test server: the real
// binary with `directory:` = samples/directory (NDJSON folder). Six food patients, their postal
// code and language set here, get the performer the hand-written table says — ServiceRequest
// .performer the HealthcareService, Task.owner its Organization, the route's performer when no
// service is eligible (counted in the summary). Then the test plays the chosen organisation
// rejecting one patient's Task (and the care manager closing that referral); after a newer
// screening, that patient's next referral goes to the next service, and `explain` says why.
#include <algorithm>
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
#include "fhir/datetime.h"
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

// Each patient's postal code and language ("" = no communication), and the food referral's
// expected performer and Task owner (hand-written from samples/directory):
//  - north covers 82501, 29601, 537*; en, es; capacity
//  - east covers 53703, 37064, 29601; en, pt; no-capacity-has-waitlist
//  - south covers 01970, 78626, 37064; en, zh; no-capacity
struct Case {
  std::string patient, postal, language, performer, owner;
};
const std::vector<Case> kCases = {
    // 537* (north) and 53703 (east); Spanish only at north. Rejected below.
    {"pat01", "53703", "es", "HealthcareService/food-pantry-north",
     "Organization/food-pantry-north-org"},
    // both cover 29601; Portuguese only at east: language outranks east's waitlist.
    {"pat03", "29601", "pt", "HealthcareService/community-kitchen-east",
     "Organization/community-kitchen-east-org"},
    // only north covers 82501.
    {"pat04", "82501", "es", "HealthcareService/food-pantry-north",
     "Organization/food-pantry-north-org"},
    // east and south cover 37064; south speaks Chinese but is at no-capacity: east (waitlist).
    {"pat05", "37064", "zh", "HealthcareService/community-kitchen-east",
     "Organization/community-kitchen-east-org"},
    // only south covers 01970, at no-capacity: the route's performer and owner (fallback).
    {"pat06", "01970", "en", "Organization/social-work-team", "Organization/social-work-team"},
    // both cover 29601, no language stated: north's capacity beats east's waitlist.
    {"pat08", "29601", "", "HealthcareService/food-pantry-north",
     "Organization/food-pantry-north-org"},
};

struct Res {
  std::string id, status, identifier, subject, performer, owner, focus;
  bool food = false;
  std::string json;
};

class DirectoryServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sdoh::test::StartAndConnect(server_, &client_), "");
    out_ = sdoh::test::FreshTestDir(
        "sdoh-directory-out", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::set<std::string> ids;
    for (const Case& c : kCases) ids.insert(c.patient);
    std::string failed = sdoh::test::LoadSamples(
        *client_.fhir, kSource, {"Questionnaire", "QuestionnaireResponse", "Observation"}, ids);
    ASSERT_TRUE(failed.empty()) << failed;
    // The sample Patients with this test's postal code and language.
    for (const std::string& line : Lines(ReadFile(kSource + "/samples/Patient.ndjson"))) {
      rapidjson::Document d;
      d.Parse(line.c_str());
      const std::string id = d["id"].GetString();
      auto c = std::find_if(kCases.begin(), kCases.end(),
                            [&](const Case& k) { return k.patient == id; });
      if (c == kCases.end()) continue;
      auto& a = d.GetAllocator();
      d.RemoveMember("address");
      d.RemoveMember("communication");
      rapidjson::Document extra(&a);
      std::string add = R"({"address":[{"use":"home","postalCode":")" + c->postal + "\"}]";
      if (!c->language.empty()) {
        add += R"(,"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":")" +
               c->language + R"("}]},"preferred":true}])";
      }
      extra.Parse((add + "}").c_str());
      for (auto& m : extra.GetObject()) {
        d.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
      }
      auto r = client_.fhir->Update("Patient", id, ToJson(d));
      ASSERT_TRUE(r.ok()) << r.error().ToString();
    }
    // The default config with absolute paths, the sample directory, and re-referral allowed as
    // soon as a closed referral has a newer screening (suppression_days 0).
    std::string text = ReadFile(kSource + "/config/sdoh-bridge.yaml");
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {": ../samples", ": " + kSource + "/samples"},
             {": ../out", ": " + out_.string()},
             {": ../mappings", ": " + kSource + "/mappings"},
             {"- rules/", "- " + kSource + "/config/rules/"},
             {"suppression_days: 30", "suppression_days: 0"}}) {
      ASSERT_NE(text.find(from), std::string::npos) << from;
      text.replace(text.find(from), from.size(), to);
    }
    text += "directory:\n  source: " + kSource + "/samples/directory\n";
    config_ = (out_ / "cfg.yaml").string();
    std::ofstream(config_) << text;
    t0_ = fhir::NowMicros();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(out_, ec);
  }

  std::string At(int hours) {
    return fhir::FormatInstantUtc(t0_ + static_cast<int64_t>(hours) * 3600 * 1000000);
  }
  int Run(const std::string& now, std::string* output) {
    auto r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "run --config " + config_ + " --source " +
                                                        server_.base_url() + " --out " +
                                                        out_.string() + " --now " + now);
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
        Res x;
        x.id = r["id"].GetString();
        x.status = r["status"].GetString();
        x.json = ToJson(r);
        if (r.HasMember("identifier")) {
          for (const auto& id : r["identifier"].GetArray()) {
            if (id.HasMember("system") && id["system"].GetString() == kSystem) {
              x.identifier = id["value"].GetString();
            }
          }
        }
        for (const char* k : {"subject", "for"}) {
          if (r.HasMember(k) && r[k].HasMember("reference"))
            x.subject = r[k]["reference"].GetString();
        }
        if (r.HasMember("performer") && r["performer"].IsArray() && !r["performer"].Empty()) {
          x.performer = r["performer"][0]["reference"].GetString();
        }
        if (r.HasMember("owner")) x.owner = r["owner"]["reference"].GetString();
        if (r.HasMember("focus") && r["focus"].HasMember("reference")) {
          x.focus = r["focus"]["reference"].GetString();
        }
        x.food = x.json.find("\"code\":\"food-insecurity\"") != std::string::npos;
        out.push_back(std::move(x));
      }
    }
    return out;
  }
  // Our food ServiceRequests of a patient, and the referral Task of each (by focus).
  std::vector<Res> FoodRequests(const std::string& patient) {
    std::vector<Res> out;
    for (Res& r : All("ServiceRequest")) {
      if (r.food && r.subject == "Patient/" + patient && !r.identifier.empty()) out.push_back(r);
    }
    return out;
  }
  Res TaskFor(const Res& sr) {
    for (Res& t : All("Task")) {
      if (t.focus == "ServiceRequest/" + sr.id && t.identifier.rfind("task-", 0) == 0) return t;
    }
    return {};
  }
  // Someone else's update of one resource: status (and statusReason text).
  void SetStatus(const std::string& type, const std::string& id, const std::string& status,
                 const std::string& reason = "") {
    auto read = client_.fhir->Read(type, id);
    ASSERT_TRUE(read.ok() && read->body);
    rapidjson::Document d;
    d.Parse(ToJson(*read->body).c_str());
    auto& a = d.GetAllocator();
    d["status"].SetString(status.c_str(), a);
    d.RemoveMember("meta");
    if (!reason.empty()) {
      rapidjson::Value sr(rapidjson::kObjectType);
      sr.AddMember("text", rapidjson::Value(reason.c_str(), a), a);
      d.AddMember("statusReason", sr, a);
    }
    auto r = client_.fhir->Update(type, id, ToJson(d));
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }

  Server server_;
  fhir::client::Client client_;
  fs::path out_;
  std::string config_;
  fhir::InstantMicros t0_ = 0;
};

TEST_F(DirectoryServerTest, PerformerPerPatientAndRejectedPerformerSkipped) {
  std::string output;
  ASSERT_EQ(Run(At(0), &output), 0) << output;

  // 1. Each patient's food referral went where the table says.
  std::map<std::string, Res> first;
  for (const Case& c : kCases) {
    std::vector<Res> srs = FoodRequests(c.patient);
    ASSERT_EQ(srs.size(), 1u) << c.patient << "\n" << output;
    EXPECT_EQ(srs[0].performer, c.performer) << c.patient;
    Res task = TaskFor(srs[0]);
    ASSERT_FALSE(task.id.empty()) << c.patient;
    EXPECT_EQ(task.owner, c.owner) << c.patient;
    first[c.patient] = srs[0];
  }
  // The summary counts every planned ServiceRequest as chosen or fallback (pat06's food at
  // least fell back).
  rapidjson::Document summary;
  summary.Parse(ReadFile(out_ / "summary.json").c_str());
  ASSERT_TRUE(summary.HasMember("directory")) << ReadFile(out_ / "summary.json");
  const uint64_t chosen = summary["directory"]["chosen"].GetUint64();
  const uint64_t fallback = summary["directory"]["fallback"].GetUint64();
  EXPECT_GE(chosen, 5u);
  EXPECT_GE(fallback, 1u);
  EXPECT_EQ(chosen + fallback, summary["resources_planned"]["ServiceRequest"].GetUint64());
  EXPECT_NE(output.find("directory   4 services"), std::string::npos) << output;

  // 2. Northside rejects pat01's food Task; the care manager closes that referral. The next pass
  // records the rejection (Task.owner) in the ledger's loop tables.
  const Res sr1 = first["pat01"];
  const Res task1 = TaskFor(sr1);
  SetStatus("Task", task1.id, "rejected", "Not taking new clients in this area");
  SetStatus("ServiceRequest", sr1.id, "revoked");
  ASSERT_EQ(Run(At(1), &output), 0) << output;
  {
    sdoh::writeback::Ledger ledger;
    ASSERT_TRUE(ledger.OpenForReading((out_ / "ledger.sqlite").string()).ok());
    auto row = ledger.FindLoop(task1.identifier);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->status, "rejected");
    EXPECT_EQ(row->performer, "Organization/food-pantry-north-org");
  }
  EXPECT_EQ(FoodRequests("pat01").size(), 1u);  // nothing new without a newer screening

  // 3. pat01 is screened again (a newer copy of the QuestionnaireResponse that found the need):
  // the new food referral skips Northside (rejected) and goes to Eastside.
  std::string qr;
  for (const std::string& l : Lines(ReadFile(kSource + "/samples/QuestionnaireResponse.ndjson"))) {
    if (l.find("\"id\":\"p01-ahc\"") != std::string::npos) qr = l;
  }
  ASSERT_FALSE(qr.empty());
  rapidjson::Document d;
  d.Parse(qr.c_str());
  d["id"].SetString("p01-ahc-rescreen", d.GetAllocator());
  d["authored"].SetString(At(2).c_str(), d.GetAllocator());
  d.RemoveMember("meta");
  auto put = client_.fhir->Update("QuestionnaireResponse", "p01-ahc-rescreen", ToJson(d));
  ASSERT_TRUE(put.ok()) << put.error().ToString();
  ASSERT_EQ(Run(At(3), &output), 0) << output;
  std::vector<Res> now = FoodRequests("pat01");
  ASSERT_EQ(now.size(), 2u) << output;
  const Res& sr2 = now[0].id == sr1.id ? now[1] : now[0];
  EXPECT_NE(sr2.identifier, sr1.identifier);
  EXPECT_EQ(sr2.status, "active");
  EXPECT_EQ(sr2.performer, "HealthcareService/community-kitchen-east");
  EXPECT_EQ(TaskFor(sr2).owner, "Organization/community-kitchen-east-org");
  // The other patients' referrals are untouched, and a rerun writes nothing more.
  for (const Case& c : kCases) {
    if (c.patient == "pat01") continue;
    ASSERT_EQ(FoodRequests(c.patient).size(), 1u) << c.patient;
    EXPECT_EQ(FoodRequests(c.patient)[0].performer, c.performer) << c.patient;
  }
  const size_t srs = All("ServiceRequest").size();
  ASSERT_EQ(Run(At(3), &output), 0) << output;
  EXPECT_EQ(All("ServiceRequest").size(), srs);

  // 4. explain says why: Eastside chosen, Northside excluded as the performer that rejected,
  // Southside at no-capacity — and never prints the patient's postal code.
  auto ex = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "explain --config " + config_ + " --source " +
                                                       server_.base_url() + " --patient pat01");
  const std::string& text = ex.output;
  EXPECT_NE(text.find("performer: HealthcareService/community-kitchen-east (directory: the only "
                      "eligible service); Task owner Organization/community-kitchen-east-org"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("excluded HealthcareService/food-pantry-north — rejected this patient's "
                      "referral for this need before"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("excluded HealthcareService/food-bank-south — outside its area"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("CHOSEN   HealthcareService/community-kitchen-east: category: "
                      "food-insecurity listed; area: covers the patient's postal code; language: "
                      "does not offer es; capacity: no-capacity-has-waitlist"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("53703"), std::string::npos) << text;
}

// The same directory read from a FHIR server (`directory.source` a base URL: the REST client of
// the `fhir:` section, paged searches) — here the test server itself — gives the same choices.
TEST_F(DirectoryServerTest, DirectoryOnAFhirServer) {
  for (const std::string type : {"Organization", "Location", "HealthcareService"}) {
    for (const std::string& l :
         Lines(ReadFile(kSource + "/samples/directory/" + type + ".ndjson"))) {
      rapidjson::Document d;
      d.Parse(l.c_str());
      auto r = client_.fhir->Update(type, d["id"].GetString(), l);
      ASSERT_TRUE(r.ok()) << r.error().ToString();
    }
  }
  std::string text = ReadFile(config_);
  const std::string folder = "source: " + kSource + "/samples/directory";
  ASSERT_NE(text.find(folder), std::string::npos);
  text.replace(text.find(folder), folder.size(), "source: " + server_.base_url());
  std::ofstream(config_) << text;
  std::string output;
  ASSERT_EQ(Run(At(0), &output), 0) << output;
  EXPECT_NE(output.find("directory   4 services in FHIR server " + server_.base_url()),
            std::string::npos)
      << output;
  for (const Case& c : kCases) {
    std::vector<Res> srs = FoodRequests(c.patient);
    ASSERT_EQ(srs.size(), 1u) << c.patient << "\n" << output;
    EXPECT_EQ(srs[0].performer, c.performer) << c.patient;
    EXPECT_EQ(TaskFor(srs[0]).owner, c.owner) << c.patient;
  }
}

}  // namespace
