// The `fhirpath:` rule condition: compiled once at load, evaluated per resource as it is read,
// the matched nodes reported as the why, the screening (or Patient) as the evidence.
#include <filesystem>
#include <fstream>

#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

namespace fs = std::filesystem;

class FhirpathRuleTest : public ::testing::Test {
 protected:
  // A catalog of this test's own: loading rules interns their codes into it (the pipeline's
  // catalog is immutable after load).
  Catalog& Cat() {
    if (!catalog_) catalog_ = std::move(*Catalog::Load(std::string(SDOH_SOURCE_DIR) + "/mappings"));
    return *catalog_;
  }
  std::unique_ptr<Catalog> catalog_;
  static fs::path RulesPath() {
    return fs::temp_directory_path() / ("fhirpath-rules-" + std::to_string(::getpid()) + ".yaml");
  }
  fs::path WriteRules(const std::string& body) {
    fs::path p = RulesPath();
    std::ofstream(p) << "ruleset: {id: fp, version: '2'}\nrules:\n" << body;
    return p;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove(RulesPath(), ec);  // leaves nothing in /tmp
  }
  Outcome Run(const Ruleset& rules, const std::vector<std::string>& resources, RunCounts* counts) {
    Outcome out;
    ScreeningOptions o;
    o.ruleset = &rules;
    o.now = fhir::NowMicros();
    ScreeningCollector c(Cat(), o);
    uint64_t line = 0;
    for (const auto& r : resources) {
      rapidjson::Document d;
      d.Parse(r.c_str());
      c.OnResource(d["resourceType"].GetString(), d, {"test", ++line});
    }
    c.Finish([&](PatientRecord& rec) {
      for (NeedFlag& f : EvaluatePatient(rules, Cat(), rec)) {
        out.flags[rec.id][f.need] = f;
      }
    });
    if (counts) *counts = c.counts();
    return out;
  }
  Harness h;
};

const char* kHousingRule = R"Y(  - id: local.mold-or-pests
    need: housing-quality
    instrument: ahc-hrsn
    when:
      fhirpath: "repeat(item).where(linkId='/96778-6').answer.value.ofType(Coding).where(code in ('LA31996-4' | 'LA28580-1')).exists()"
)Y";

TEST_F(FhirpathRuleTest, EvaluatesOnTheScreeningResource) {
  auto rules = Ruleset::Load({WriteRules(kHousingRule).string()}, Cat());
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  ASSERT_EQ(rules->fhirpath().size(), 1u);
  auto o = Run(*rules, {Qr("q", "p", kAhc, "2024-05-01", {{"/96778-6", {"LA9-3", "LA28580-1"}}})},
               nullptr);
  ASSERT_TRUE(o.Has("p", "housing-quality"));
  const NeedFlag& f = o.Get("p", "housing-quality");
  EXPECT_EQ(EvidenceOf(f), std::vector<std::string>{"QuestionnaireResponse/q"});
  EXPECT_EQ(f.rules, std::vector<std::string>{"local.mold-or-pests"});
  ASSERT_EQ(f.why.size(), 1u);
  EXPECT_NE(f.why[0].find("fhirpath"), std::string::npos);
  // Another answer: the expression is false, no flag.
  EXPECT_FALSE(
      Run(*rules, {Qr("q", "p", kAhc, "2024-05-01", {{"/96778-6", {"LA32001-2"}}})}, nullptr)
          .Has("p", "housing-quality"));
  // Only the instrument's screenings are evaluated.
  EXPECT_FALSE(
      Run(*rules, {Qr("q", "p", kHvs, "2024-05-01", {{"/96778-6", {"LA28580-1"}}})}, nullptr)
          .Has("p", "housing-quality"));
}

TEST_F(FhirpathRuleTest, PatientRulesEvaluateOnThePatient) {
  auto rules = Ruleset::Load({WriteRules(R"Y(  - id: local.spanish
    need: interpreter
    instrument: patient
    certainty: possible
    when: {fhirpath: "communication.where(preferred = true).language.coding.where(code = 'es').exists()"}
)Y")
                                  .string()},
                             Cat());
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  auto o = Run(
      *rules,
      {PatientJson(
          "p",
          R"("communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"es"}]},"preferred":true}])")},
      nullptr);
  ASSERT_TRUE(o.Has("p", "interpreter"));
  EXPECT_EQ(EvidenceOf(o.Get("p", "interpreter")), std::vector<std::string>{"Patient/p"});
  EXPECT_TRUE(o.Get("p", "interpreter").possible);
}

TEST_F(FhirpathRuleTest, SyntaxErrorIsAConfigErrorWithFileAndLine) {
  fs::path p = WriteRules(R"Y(  - id: broken
    need: food
    instrument: hvs
    when: {fhirpath: "item.where(linkId = "}
)Y");
  auto rules = Ruleset::Load({p.string()}, Cat());
  ASSERT_FALSE(rules.ok());
  EXPECT_NE(rules.status().message().find(p.string() + ":6:"), std::string::npos)
      << rules.status().message();
  EXPECT_NE(rules.status().message().find("position"), std::string::npos);
}

TEST_F(FhirpathRuleTest, EvaluationErrorsAreCountedNotFatal) {
  // Strict model: an element AHC screenings never have is an evaluation error.
  auto rules = Ruleset::Load({WriteRules(R"Y(  - id: typo
    need: food
    instrument: hvs
    when: {fhirpath: "itme.exists()"}
)Y")
                                  .string()},
                             Cat());
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  RunCounts counts;
  auto o = Run(*rules, {Qr("q", "p", kHvs, "2024-05-01", {{"/88122-7", {"LA28397-0"}}})}, &counts);
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(counts.rule_errors.size(), 1u);
  EXPECT_EQ(counts.rule_errors.begin()->first, "rule typo: FHIRPath evaluation error");
}

}  // namespace
}  // namespace sdoh::testing
