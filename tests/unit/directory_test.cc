// Issue 15 item 3, "pick a service that can take it": the performer choice of the service
// directory (plugin/referrals/directory.h), from HealthcareService / Organization / Location
// JSON as a directory folder holds them, with hand-written expectations per patient.
#include "plugin/referrals/directory.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "plugin/referrals/referral_planner.h"
#include "plugin/screening/screening_collector.h"
#include "plugin/setup/pipeline.h"

namespace sdoh {
namespace {

const std::string kSdohcc =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";

std::string Capacity(const std::string& code) {
  return R"({"url":"http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ExtensionHealthcareServiceCapacityStatus","extension":[{"url":"capacityStatus","valueCodeableConcept":{"coding":[{"system":")" +
         kSdohcc + R"(","code":")" + code + R"("}]}}]})";
}

std::string Service(const std::string& id, const std::string& org, const std::string& category,
                    const std::string& area, const std::vector<std::string>& langs,
                    const std::string& capacity, bool active = true) {
  std::string comm;
  for (const std::string& l : langs) {
    comm += (comm.empty() ? "" : ",") +
            std::string(R"({"coding":[{"system":"urn:ietf:bcp:47","code":")") + l + "\"}]}";
  }
  return R"({"resourceType":"HealthcareService","id":")" + id + R"(","active":)" +
         (active ? "true" : "false") + R"(,"providedBy":{"reference":"Organization/)" + org +
         R"("},"category":[{"coding":[{"system":")" + kSdohcc + R"(","code":")" + category +
         R"("}]}],"coverageArea":[{"reference":"Location/)" + area + R"("}],"communication":[)" +
         comm + "]" + (capacity.empty() ? "" : ",\"extension\":[" + Capacity(capacity) + "]") + "}";
}

std::string Area(const std::string& id, const std::string& postal,
                 const std::vector<std::string>& more) {
  std::string ext;
  for (const std::string& m : more) {
    ext += (ext.empty() ? "" : ",") +
           std::string(R"({"url":"urn:sdoh-bridge:coverage-postal-code","valueString":")") + m +
           "\"}";
  }
  return R"({"resourceType":"Location","id":")" + id + R"(","address":{"postalCode":")" + postal +
         R"("},"extension":[)" + ext + "]}";
}

void Feed(Directory& d, const std::string& type, const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  d.OnResource(type, doc, {"test.ndjson", 1});
}

// Three food services in different ZIP areas and languages — one with capacity, one with a
// waitlist, one at no-capacity — plus an inactive food service and a housing service.
void Load(Directory& d) {
  for (const char* org : {"org-north", "org-east", "org-south", "org-closed", "org-housing"}) {
    Feed(d, "Organization",
         std::string(R"({"resourceType":"Organization","id":")") + org + R"(","active":true})");
  }
  Feed(d, "Location", Area("area-north", "02139", {"0214*"}));
  Feed(d, "Location", Area("area-east", "02139", {"02141", "02142"}));
  Feed(d, "Location", Area("area-south", "02118", {"02119", "02139"}));
  Feed(d, "Location", Area("area-all", "021*", {}));
  Feed(d, "HealthcareService",
       Service("food-north", "org-north", "food-insecurity", "area-north", {"en", "es"},
               "capacity"));
  Feed(d, "HealthcareService",
       Service("food-east", "org-east", "food-insecurity", "area-east", {"en", "pt"},
               "no-capacity-has-waitlist"));
  Feed(d, "HealthcareService",
       Service("food-south", "org-south", "food-insecurity", "area-south", {"en", "zh"},
               "no-capacity"));
  Feed(d, "HealthcareService",
       Service("food-closed", "org-closed", "food-insecurity", "area-all", {"en", "es", "pt", "zh"},
               "capacity", false));
  Feed(d, "HealthcareService",
       Service("housing-north", "org-housing", "housing-instability", "area-all", {"en"},
               "capacity"));
  d.Finish();
}

DirectoryQuery Food(const std::string& postal, const std::string& lang) {
  DirectoryQuery q;
  q.category_system = kSdohcc;
  q.category_code = "food-insecurity";
  q.postal_code = postal;
  q.language = lang;
  return q;
}

const CandidateVerdict* Verdict(const DirectoryChoice& c, const std::string& service) {
  for (const CandidateVerdict& v : c.candidates) {
    if (v.service == service) return &v;
  }
  return nullptr;
}

bool HasReason(const CandidateVerdict& v, const std::string& text) {
  for (const std::string& r : v.reasons) {
    if (r.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(DirectoryTest, ReadsTheServicesAndTheirAreas) {
  Directory d;
  Load(d);
  ASSERT_EQ(d.services().size(), 5u);
  EXPECT_EQ(d.services()[0].id, "food-closed");  // sorted by id
  const DirectoryService& north = d.services()[2];
  EXPECT_EQ(north.id, "food-north");
  EXPECT_EQ(north.organization, "Organization/org-north");
  EXPECT_EQ(north.capacity, Capacity::kCapacity);
  EXPECT_EQ(north.postal_codes, (std::vector<std::string>{"02139", "0214*"}));
  EXPECT_EQ(north.languages, (std::vector<std::string>{"en", "es"}));
  EXPECT_EQ(d.services()[3].capacity, Capacity::kNoCapacity);  // food-south
  EXPECT_EQ(d.counts().TotalSkipped(), 0u);
}

// Patient 1: 02139, Spanish. North covers it, offers Spanish and has capacity; east has only a
// waitlist and no Spanish; south is at no-capacity; the closed one is inactive.
TEST(DirectoryTest, Patient1LanguageAndCapacityPickNorth) {
  Directory d;
  Load(d);
  DirectoryChoice c = d.Choose(Food("02139", "es"));
  EXPECT_EQ(c.service, "HealthcareService/food-north");
  EXPECT_EQ(c.organization, "Organization/org-north");
  ASSERT_EQ(c.candidates.size(), 4u);
  EXPECT_EQ(c.other_category, 1u);  // the housing service
  EXPECT_EQ(c.candidates[0].service, "HealthcareService/food-north");
  EXPECT_EQ(c.candidates[1].service, "HealthcareService/food-east");
  EXPECT_TRUE(c.candidates[1].eligible);
  EXPECT_EQ(Verdict(c, "HealthcareService/food-south")->excluded, "no-capacity");
  EXPECT_EQ(Verdict(c, "HealthcareService/food-closed")->excluded, "inactive");
  EXPECT_TRUE(HasReason(*Verdict(c, "HealthcareService/food-north"), "language: offers es"));
  EXPECT_TRUE(HasReason(*Verdict(c, "HealthcareService/food-east"), "language: does not offer es"));
  EXPECT_TRUE(
      HasReason(*Verdict(c, "HealthcareService/food-east"), "capacity: no-capacity-has-waitlist"));
}

// Patient 2: 02139, Portuguese (pt-BR). East is the only one offering it: the preferred language
// outranks capacity, so east wins despite its waitlist.
TEST(DirectoryTest, Patient2LanguageOutranksCapacity) {
  Directory d;
  Load(d);
  DirectoryChoice c = d.Choose(Food("02139", "pt-BR"));
  EXPECT_EQ(c.service, "HealthcareService/food-east");
  EXPECT_EQ(c.organization, "Organization/org-east");
  EXPECT_TRUE(Verdict(c, "HealthcareService/food-east")->language_match);
  EXPECT_FALSE(Verdict(c, "HealthcareService/food-north")->language_match);
  EXPECT_TRUE(Verdict(c, "HealthcareService/food-north")->eligible);  // preferred, not required
}

// Patient 3: 02139, no language stated: capacity decides (north before the waitlisted east).
TEST(DirectoryTest, Patient3NoLanguageCapacityDecides) {
  Directory d;
  Load(d);
  DirectoryChoice c = d.Choose(Food("02139", ""));
  EXPECT_EQ(c.service, "HealthcareService/food-north");
  EXPECT_TRUE(HasReason(*Verdict(c, "HealthcareService/food-north"), "language: the patient"));
}

// Patient 4: like patient 1, but org-north rejected this patient's food referral before: north
// is skipped (by its Organization as the Task owner recorded it), east takes it.
TEST(DirectoryTest, Patient4RejectedPerformerIsSkipped) {
  Directory d;
  Load(d);
  DirectoryQuery q = Food("02139", "es");
  q.rejected = {"Organization/org-north"};
  DirectoryChoice c = d.Choose(q);
  EXPECT_EQ(c.service, "HealthcareService/food-east");
  const CandidateVerdict* north = Verdict(c, "HealthcareService/food-north");
  ASSERT_NE(north, nullptr);
  EXPECT_FALSE(north->eligible);
  EXPECT_EQ(north->excluded, "rejected this patient's referral for this need before");
  EXPECT_TRUE(HasReason(*north, "rejected:"));
  // Rejected as the HealthcareService itself works the same.
  q.rejected = {"HealthcareService/food-north"};
  EXPECT_EQ(d.Choose(q).service, "HealthcareService/food-east");
}

// Patient 5: 02118, Chinese: only south covers 02118, and south is at no-capacity: no eligible
// service, the route's performer stays (fallback).
TEST(DirectoryTest, Patient5OnlyServiceAtNoCapacityFallsBack) {
  Directory d;
  Load(d);
  DirectoryChoice c = d.Choose(Food("02118", "zh"));
  EXPECT_EQ(c.service, "");
  EXPECT_EQ(c.why, "no eligible service");
  EXPECT_EQ(Verdict(c, "HealthcareService/food-south")->excluded, "no-capacity");
  EXPECT_EQ(Verdict(c, "HealthcareService/food-north")->excluded, "outside its area");
  EXPECT_EQ(Verdict(c, "HealthcareService/food-east")->excluded, "outside its area");
}

// Patient 6: ZIP+4 02142-1234, English: north covers it by the prefix 0214*, east by 02142;
// both speak English; north has capacity, east a waitlist.
TEST(DirectoryTest, Patient6ZipPlus4AndPrefix) {
  Directory d;
  Load(d);
  DirectoryChoice c = d.Choose(Food("02142-1234", "en-US"));
  EXPECT_EQ(c.service, "HealthcareService/food-north");
  EXPECT_TRUE(Verdict(c, "HealthcareService/food-east")->eligible);
  EXPECT_EQ(c.why, "ranked first of 2 eligible (language offered, then capacity, then id)");
}

// Patient 7: 02141, French. Preferred only: north (capacity) wins; with require_language no
// service offers French: fallback.
TEST(DirectoryTest, Patient7RequireLanguage) {
  Directory d;
  Load(d);
  EXPECT_EQ(d.Choose(Food("02141", "fr")).service, "HealthcareService/food-north");
  Directory strict(DirectoryOptions{true, kCapacityExtensionUrl});
  Load(strict);
  DirectoryChoice c = strict.Choose(Food("02141", "fr"));
  EXPECT_EQ(c.service, "");
  EXPECT_EQ(Verdict(c, "HealthcareService/food-north")->excluded,
            "language not offered (directory.require_language)");
}

// Patient 8: no postal code: no service can be placed; fallback.
TEST(DirectoryTest, Patient8NoPostalCodeFallsBack) {
  Directory d;
  Load(d);
  DirectoryChoice c = d.Choose(Food("", "es"));
  EXPECT_EQ(c.service, "");
  EXPECT_EQ(Verdict(c, "HealthcareService/food-north")->excluded, "the patient has no postal code");
}

// A need whose category no service lists: fallback, saying so.
TEST(DirectoryTest, NoServiceOfTheCategory) {
  Directory d;
  Load(d);
  DirectoryQuery q = Food("02139", "en");
  q.category_code = "transportation-insecurity";
  DirectoryChoice c = d.Choose(q);
  EXPECT_EQ(c.service, "");
  EXPECT_EQ(c.why, "no service lists the category");
  EXPECT_EQ(c.other_category, 5u);
}

// Equal language and capacity: the HealthcareService id decides, whatever the read order.
TEST(DirectoryTest, TieBreakIsTheServiceId) {
  for (bool reversed : {false, true}) {
    Directory d;
    Feed(d, "Location", Area("a", "10001", {}));
    std::vector<std::string> ids{"svc-b", "svc-a", "svc-c"};
    if (reversed) std::reverse(ids.begin(), ids.end());
    for (const std::string& id : ids) {
      Feed(d, "HealthcareService", Service(id, "org-" + id, "food-insecurity", "a", {"en"}, ""));
    }
    d.Finish();
    DirectoryChoice c = d.Choose(Food("10001", "en"));
    EXPECT_EQ(c.service, "HealthcareService/svc-a");
    EXPECT_EQ(c.candidates[1].service, "HealthcareService/svc-b");
  }
}

// A service of an inactive Organization is inactive; a capacity extension with an unknown code is
// bad input (counted, named) and reads as unknown; a configured capacity URL replaces the
// default one.
TEST(DirectoryTest, InactiveOrganizationUnknownCapacityAndConfiguredUrl) {
  Directory d;
  Feed(d, "Organization", R"({"resourceType":"Organization","id":"gone","active":false})");
  Feed(d, "Location", Area("a", "10001", {}));
  Feed(d, "HealthcareService", Service("svc-gone", "gone", "food-insecurity", "a", {"en"}, ""));
  Feed(d, "HealthcareService",
       Service("svc-odd", "other", "food-insecurity", "a", {"en"}, "full-up"));
  d.Finish();
  ASSERT_EQ(d.counts().TotalSkipped(), 1u);
  EXPECT_NE(d.counts().skip_examples[0].detail.find("HealthcareService/svc-odd"),
            std::string::npos);
  DirectoryChoice c = d.Choose(Food("10001", "en"));
  EXPECT_EQ(c.service, "HealthcareService/svc-odd");
  EXPECT_EQ(Verdict(c, "HealthcareService/svc-gone")->excluded, "inactive");

  Directory custom(DirectoryOptions{false, "urn:example:capacity"});
  std::string svc = Service("svc-x", "o", "food-insecurity", "a", {"en"}, "no-capacity");
  Feed(custom, "Location", Area("a", "10001", {}));
  Feed(custom, "HealthcareService", svc);  // the SDOHCC URL is not the configured one
  custom.Finish();
  EXPECT_EQ(custom.Choose(Food("10001", "en")).service, "HealthcareService/svc-x");
}

TEST(DirectoryTest, PostalCodeMatching) {
  EXPECT_TRUE(PostalCodeCovered("02139", "02139"));
  EXPECT_TRUE(PostalCodeCovered("02139-4307", "02139"));
  EXPECT_TRUE(PostalCodeCovered("02139", "021*"));
  EXPECT_TRUE(PostalCodeCovered("sw1a 1aa", "SW1A*"));
  EXPECT_FALSE(PostalCodeCovered("02138", "02139"));
  EXPECT_FALSE(PostalCodeCovered("021391", "02139"));
  EXPECT_FALSE(PostalCodeCovered("02139", "*"));
  EXPECT_FALSE(PostalCodeCovered("", "02139"));
}

// A Location a service names but the directory lacks is bad input naming both.
TEST(DirectoryTest, MissingLocationIsCounted) {
  Directory d;
  Feed(d, "HealthcareService", Service("svc", "o", "food-insecurity", "nowhere", {"en"}, ""));
  d.Finish();
  ASSERT_EQ(d.counts().TotalSkipped(), 1u);
  EXPECT_EQ(d.counts().skip_examples[0].where, "HealthcareService/svc");
  EXPECT_NE(d.counts().skip_examples[0].detail.find("Location/nowhere"), std::string::npos);
  EXPECT_EQ(d.Choose(Food("10001", "en")).candidates[0].excluded, "no service area listed");
}

// The planner with a directory: the chosen service is ServiceRequest.performer and its
// Organization the Task.owner; the business identifiers are those without a directory (the
// performer is not part of the identity); no eligible service leaves the route's performer.
class DirectoryPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    ASSERT_TRUE(p.ok()) << p.status().message();
    p_ = std::make_unique<Pipeline>(std::move(*p));
    now_ = *fhir::ParseFhirDateTime("2024-06-01T12:00:00Z", fhir::TimeZone::Utc());
    Load(directory_);
  }
  ReferralPlan Plan(const std::string& postal, const std::string& lang, bool with_directory,
                    const RejectedPerformers* rejected = nullptr) {
    NeedFlag f;
    f.patient_id = "pat-1";
    f.need = "food";
    f.def = p_->catalog->FindNeed("food");
    f.possible = false;
    f.evidence = {{"QuestionnaireResponse/qr-1", "2"}};
    f.rules = {"ahc-hrsn.food"};
    f.why = {"x"};
    f.screened_at = now_;
    PlanContext ctx{p_->catalog.get(),     &p_->config, p_->ruleset.id(),
                    p_->ruleset.version(), now_,        nullptr};
    if (with_directory) ctx.directory = &directory_;
    ctx.rejected = rejected;
    PatientFacts facts;
    facts.present = true;
    facts.postal_code = postal;
    facts.communication_language = lang;
    return PlanReferral(f, facts, ctx);
  }
  static rapidjson::Document Json(const ReferralPlan& plan, const std::string& type) {
    rapidjson::Document d;
    for (const PlannedResource& r : plan.resources) {
      if (r.type == type) d.Parse(r.json.c_str());
    }
    return d;
  }
  static std::vector<std::string> Identifiers(const ReferralPlan& plan) {
    std::vector<std::string> ids;
    for (const PlannedResource& r : plan.resources) ids.push_back(r.type + " " + r.identifier);
    return ids;
  }

  std::unique_ptr<Pipeline> p_;
  fhir::InstantMicros now_ = 0;
  Directory directory_;
};

TEST_F(DirectoryPlanTest, ChosenServiceIsPerformerAndOrganizationIsOwnerSameIdentifiers) {
  const ReferralPlan without = Plan("02139", "es", false);
  const ReferralPlan with = Plan("02139", "es", true);
  EXPECT_FALSE(without.directory.consulted);
  EXPECT_TRUE(with.directory.consulted);
  ASSERT_EQ(Identifiers(with).size(), 3u);  // ServiceRequest, Task, Flag
  EXPECT_EQ(Identifiers(with), Identifiers(without));
  auto sr = Json(with, "ServiceRequest");
  ASSERT_TRUE(sr.IsObject());
  ASSERT_EQ(sr["performer"].Size(), 1u);
  EXPECT_STREQ(sr["performer"][0]["reference"].GetString(), "HealthcareService/food-north");
  auto task = Json(with, "Task");
  EXPECT_STREQ(task["owner"]["reference"].GetString(), "Organization/org-north");
  // Without a directory: the route's, as before.
  EXPECT_STREQ(Json(without, "ServiceRequest")["performer"][0]["reference"].GetString(),
               "Organization/social-work-team");
  // Only performer and owner differ.
  auto sr_without = Json(without, "ServiceRequest");
  sr.RemoveMember("performer");
  sr_without.RemoveMember("performer");
  EXPECT_TRUE(sr == sr_without);
}

TEST_F(DirectoryPlanTest, RejectedFromTheLedgerAndFallbackToTheRoute) {
  RejectedPerformers rejected{{{"pat-1", "food"}, {"Organization/org-north"}}};
  ReferralPlan plan = Plan("02139", "es", true, &rejected);
  EXPECT_EQ(plan.directory.service, "HealthcareService/food-east");
  EXPECT_STREQ(Json(plan, "Task")["owner"]["reference"].GetString(), "Organization/org-east");
  // Another need of the patient, or another patient, is not affected.
  RejectedPerformers other{{{"pat-1", "housing-instability"}, {"Organization/org-north"}},
                           {{"pat-2", "food"}, {"Organization/org-north"}}};
  EXPECT_EQ(Plan("02139", "es", true, &other).directory.service, "HealthcareService/food-north");
  // No eligible service: the route's performer and owner.
  ReferralPlan fallback = Plan("02118", "zh", true);
  EXPECT_TRUE(fallback.directory.consulted);
  EXPECT_EQ(fallback.directory.service, "");
  EXPECT_STREQ(Json(fallback, "ServiceRequest")["performer"][0]["reference"].GetString(),
               "Organization/social-work-team");
  EXPECT_STREQ(Json(fallback, "Task")["owner"]["reference"].GetString(),
               "Organization/social-work-team");
}

// A later line of the same HealthcareService id replaces the earlier one (counted as ignored).
TEST(DirectoryTest, LaterLineOfTheSameServiceWins) {
  Directory d;
  Feed(d, "Location", Area("a", "10001", {}));
  Feed(d, "HealthcareService",
       Service("svc", "o", "food-insecurity", "a", {"en"}, "capacity", false));
  Feed(d, "HealthcareService", Service("svc", "o", "food-insecurity", "a", {"en"}, "capacity"));
  d.Finish();
  ASSERT_EQ(d.services().size(), 1u);
  EXPECT_TRUE(d.services()[0].active);
  EXPECT_EQ(d.counts().TotalIgnored(), 1u);
  EXPECT_EQ(d.Choose(Food("10001", "en")).service, "HealthcareService/svc");
}

// A service without coverageArea is placed by its `location` Locations.
TEST(DirectoryTest, LocationWhenNoCoverageArea) {
  Directory d;
  Feed(d, "Location", Area("site", "30301", {}));
  Feed(d, "Location", Area("area", "99999", {}));
  std::string svc = Service("svc", "o", "food-insecurity", "area", {"en"}, "capacity");
  // coverageArea → location
  const std::string from = R"("coverageArea":[{"reference":"Location/area"}])";
  svc.replace(svc.find(from), from.size(), R"("location":[{"reference":"Location/site"}])");
  Feed(d, "HealthcareService", svc);
  d.Finish();
  EXPECT_EQ(d.Choose(Food("30301", "en")).service, "HealthcareService/svc");
  EXPECT_EQ(d.Choose(Food("99999", "en")).service, "");
}

// The patient side, read by the collector only when a directory is configured: the first
// postal code of an address not `old`; the preferred communication's language, else the first.
TEST(DirectoryPatientFactsTest, PostalCodeAndLanguage) {
  auto p = LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
  ASSERT_TRUE(p.ok()) << p.status().message();
  for (bool directory : {true, false}) {
    ScreeningOptions o;
    o.ruleset = &p->ruleset;
    o.now = *fhir::ParseFhirDateTime("2024-06-01T12:00:00Z", fhir::TimeZone::Utc());
    o.input = InputPolicyFor(p->config, o.now);
    o.directory_facts = directory;
    ScreeningCollector c(*p->catalog, o);
    const char* lang = R"({"language":{"coding":[{"system":"urn:ietf:bcp:47","code":")";
    for (const std::string& json : {
             R"({"resourceType":"Patient","id":"a","address":[{"use":"old","postalCode":"11111"},)"
             R"({"use":"home","city":"x"},{"use":"home","postalCode":"02139-4307"}],)"
             R"("communication":[)" +
                 std::string(lang) + R"(es"}]}},)" + lang + R"(pt-BR"}]},"preferred":true}]})",
             R"({"resourceType":"Patient","id":"b","communication":[)" + std::string(lang) +
                 R"(fr"}]}},)" + lang + R"(de"}]}}]})",
         }) {
      rapidjson::Document d;
      d.Parse(json.c_str());
      ASSERT_FALSE(d.HasParseError()) << json;
      c.OnResource("Patient", d, {"test", 1});
    }
    std::map<std::string, PatientFacts> facts;
    c.Finish([&](PatientRecord& rec) { facts[rec.id] = rec.facts; });
    ASSERT_EQ(facts.size(), 2u);
    EXPECT_EQ(facts["a"].postal_code, directory ? "02139-4307" : "");
    EXPECT_EQ(facts["a"].communication_language, directory ? "pt-BR" : "");
    EXPECT_EQ(facts["b"].postal_code, "");
    EXPECT_EQ(facts["b"].communication_language, directory ? "fr" : "");
  }
}

// `directory:` in the config: paths resolved against the config's folder, unknown keys and a
// non-boolean require_language are errors naming the key.
TEST(DirectoryConfigTest, Keys) {
  const std::string base = std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml";
  std::ifstream in(base);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("sdoh-directory-config-" + std::to_string(::getpid()));
  fs::create_directories(dir / "config");
  auto load = [&](const std::string& section) {
    const std::string path = (dir / "config" / "c.yaml").string();
    std::ofstream(path) << text << section;
    return LoadConfig(path);
  };
  auto ok = load("directory:\n  source: ../samples/directory\n  require_language: true\n");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->directory.source, (dir / "samples" / "directory").string());
  EXPECT_TRUE(ok->directory.require_language);
  EXPECT_EQ(ok->directory.capacity_extension, "");
  auto none = load("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->directory.source, "");
  auto typo = load("directory:\n  source: x\n  requires_language: true\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("requires_language"), std::string::npos);
  auto bad = load("directory:\n  source: x\n  require_language: maybe\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("require_language"), std::string::npos);
  auto no_source = load("directory:\n  require_language: true\n");
  ASSERT_FALSE(no_source.ok());
  EXPECT_NE(no_source.status().message().find("source"), std::string::npos);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace sdoh
