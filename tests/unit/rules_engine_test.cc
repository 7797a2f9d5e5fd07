// One test (or more) per rule of the default rule set: each fails if its rule breaks.
#include "plugin/rules/rules_engine.h"

#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

using ::testing::ElementsAre;

class RulesTest : public ::testing::Test {
 protected:
  Outcome One(const std::string& form, const std::vector<Item>& items) {
    return h.Run({PatientJson("p"), Qr("q", "p", form, "2024-05-01T10:00:00Z", items)});
  }
  Harness h;
};

TEST_F(RulesTest, AhcFoodFromEitherQuestion) {
  for (const char* q : {"/88122-7", "/88123-5"}) {
    for (const char* a : {"LA28397-0", "LA6729-3"}) {
      auto o = One(kAhc, {{q, {a}}});
      ASSERT_TRUE(o.Has("p", "food")) << q << " " << a;
      EXPECT_EQ(o.Get("p", "food").rules, std::vector<std::string>{"ahc-hrsn.food"});
    }
  }
  EXPECT_FALSE(
      One(kAhc, {{"/88122-7", {"LA28398-8"}}, {"/88123-5", {"LA28398-8"}}}).Has("p", "food"));
}

TEST_F(RulesTest, HungerVitalSignFood) {
  auto o = One(kHvs, {{"/88122-7", {"LA28398-8"}}, {"/88123-5", {"LA6729-3"}}});
  ASSERT_TRUE(o.Has("p", "food"));
  EXPECT_EQ(o.Get("p", "food").rules, std::vector<std::string>{"hvs.food"});
  EXPECT_FALSE(One(kHvs, {{"/88122-7", {"LA15775-2"}}}).Has("p", "food"));
  // The derived risk item never decides when a question is answered.
  EXPECT_FALSE(
      One(kHvs, {{"/88122-7", {"LA28398-8"}}, {"/88124-3", {"LA19952-3"}}}).Has("p", "food"));
  EXPECT_FALSE(
      One(kHvs, {{"/88123-5", {"LA15775-2"}}, {"/88124-3", {"LA19952-3"}}}).Has("p", "food"));
}

// Issue 14 item 4b: 88124-3 = LA19952-3 "At risk" alone (neither question answered) is food.
TEST_F(RulesTest, HungerVitalSignRiskAloneIsFood) {
  auto o = One(kHvs, {{"/88124-3", {"LA19952-3"}}});
  ASSERT_TRUE(o.Has("p", "food"));
  EXPECT_EQ(o.Get("p", "food").rules, std::vector<std::string>{"hvs.food-risk"});
  EXPECT_FALSE(One(kHvs, {{"/88124-3", {"LA19983-8"}}}).Has("p", "food"));  // No risk
}

TEST_F(RulesTest, PrapareFoodAndUtilitiesFromMultiSelect) {
  auto o = One(kPrapare, {{"/93041-2/93031-3", {"LA30126-9", "LA30125-1", "LA30124-4"}}});
  EXPECT_TRUE(o.Has("p", "food"));
  EXPECT_TRUE(o.Has("p", "utilities"));
  EXPECT_EQ(o.Get("p", "utilities").rules, std::vector<std::string>{"prapare.utilities"});
  EXPECT_TRUE(One(kPrapare, {{"/93041-2/93031-3", {"LA30126-9"}}}).Needs("p").empty());
}

TEST_F(RulesTest, HousingInstability) {
  for (const char* a : {"LA31994-9", "LA31995-6"}) {
    EXPECT_TRUE(One(kAhc, {{"/71802-3", {a}}}).Has("p", "housing-instability")) << a;
  }
  EXPECT_FALSE(One(kAhc, {{"/71802-3", {"LA31993-1"}}}).Has("p", "housing-instability"));
  EXPECT_TRUE(One(kPrapare, {{"/93042-0/71802-3", {"LA30190-5"}}}).Has("p", "housing-instability"));
  EXPECT_FALSE(
      One(kPrapare, {{"/93042-0/71802-3", {"LA30189-7"}}}).Has("p", "housing-instability"));
  auto o = One(kPrapare, {{"/93042-0/93033-9", {"LA33-6"}}});
  ASSERT_TRUE(o.Has("p", "housing-instability"));
  EXPECT_EQ(o.Get("p", "housing-instability").rules,
            std::vector<std::string>{"prapare.housing-instability"});
  EXPECT_FALSE(One(kPrapare, {{"/93042-0/93033-9", {"LA32-8"}}}).Has("p", "housing-instability"));
}

TEST_F(RulesTest, HousingQualityAnyProblemEvenWithNoneOfTheAbove) {
  for (const char* a : {"LA31996-4", "LA28580-1", "LA31997-2", "LA31998-0", "LA31999-8",
                        "LA32000-4", "LA32001-2"}) {
    EXPECT_TRUE(One(kAhc, {{"/96778-6", {a}}}).Has("p", "housing-quality")) << a;
  }
  EXPECT_TRUE(One(kAhc, {{"/96778-6", {"LA9-3", "LA28580-1"}}}).Has("p", "housing-quality"));
  EXPECT_FALSE(One(kAhc, {{"/96778-6", {"LA9-3"}}}).Has("p", "housing-quality"));
}

TEST_F(RulesTest, TransportationRoutesToTransportation) {
  auto o = One(kAhc, {{"/93030-5", {"LA33-6"}}});
  ASSERT_TRUE(o.Has("p", "transportation"));
  EXPECT_EQ(o.Get("p", "transportation").def->route, "transportation");
  EXPECT_FALSE(One(kAhc, {{"/93030-5", {"LA32-8"}}}).Has("p", "transportation"));
  for (const char* a : {"LA30133-5", "LA30134-3"}) {
    EXPECT_TRUE(One(kPrapare, {{"/93041-2/93030-5", {a}}}).Has("p", "transportation")) << a;
  }
  EXPECT_FALSE(One(kPrapare, {{"/93041-2/93030-5", {"LA32-8"}}}).Has("p", "transportation"));
}

TEST_F(RulesTest, Utilities) {
  for (const char* a : {"LA33-6", "LA32002-0"}) {
    EXPECT_TRUE(One(kAhc, {{"/96779-4", {a}}}).Has("p", "utilities")) << a;
  }
  EXPECT_FALSE(One(kAhc, {{"/96779-4", {"LA32-8"}}}).Has("p", "utilities"));
}

TEST_F(RulesTest, PrapareSafety) {
  EXPECT_TRUE(One(kPrapare, {{"/93039-6/93026-3", {"LA32-8"}}}).Has("p", "interpersonal-safety"));
  EXPECT_TRUE(
      One(kPrapare, {{"/93039-6/93026-3", {"LA14072-5"}}}).Has("p", "interpersonal-safety"));
  EXPECT_FALSE(One(kPrapare, {{"/93039-6/93026-3", {"LA33-6"}}}).Has("p", "interpersonal-safety"));
  EXPECT_TRUE(One(kPrapare, {{"/93039-6/76501-6", {"LA33-6"}}}).Has("p", "interpersonal-safety"));
  EXPECT_FALSE(One(kPrapare, {{"/93039-6/76501-6", {"LA32-8"}}}).Has("p", "interpersonal-safety"));
}

std::vector<Item> Hits(const char* a, const char* b, const char* c, const char* d) {
  std::vector<Item> items;
  const char* links[] = {"/95618-5", "/95617-7", "/95616-9", "/95615-1"};
  const char* answers[] = {a, b, c, d};
  for (int i = 0; i < 4; ++i) {
    if (answers[i] != nullptr) items.push_back({links[i], {answers[i]}});
  }
  return items;
}

TEST_F(RulesTest, HitsPositiveAboveTen) {
  // 3 + 3 + 3 + 2 = 11 > 10
  auto o = One(kAhc, Hits("LA10082-8", "LA10082-8", "LA10082-8", "LA10066-1"));
  ASSERT_TRUE(o.Has("p", "interpersonal-safety"));
  EXPECT_EQ(o.Get("p", "interpersonal-safety").rules, std::vector<std::string>{"ahc-hrsn.hits"});
  EXPECT_FALSE(o.Has("p", "interpersonal-safety-incomplete"));
}

TEST_F(RulesTest, HitsTenIsNegative) {
  auto o = One(kAhc, Hits("LA10082-8", "LA10082-8", "LA10066-1", "LA10066-1"));  // 10
  EXPECT_FALSE(o.Has("p", "interpersonal-safety"));
  EXPECT_FALSE(o.Has("p", "interpersonal-safety-incomplete"));
  // The derived total is ignored even when it claims a positive.
  std::string qr =
      Qr("q", "p", kAhc, "2024-05-01", Hits("LA6270-8", "LA6270-8", "LA6270-8", "LA6270-8"));
  qr.insert(qr.rfind(']'), R"(,{"linkId":"/95614-4","answer":[{"valueDecimal":16}]})");
  auto o2 = h.Run({PatientJson("p"), qr});
  EXPECT_FALSE(o2.Has("p", "interpersonal-safety"));
  EXPECT_FALSE(o2.Has("p", "interpersonal-safety-incomplete"));
}

TEST_F(RulesTest, HitsIncompleteIsNeverNegativeNorPositive) {
  // 1 + 1 + 1 + unanswered: at most 8, at least 4: undecided.
  auto missing = One(kAhc, Hits("LA6270-8", "LA6270-8", "LA6270-8", nullptr));
  EXPECT_FALSE(missing.Has("p", "interpersonal-safety"));
  ASSERT_TRUE(missing.Has("p", "interpersonal-safety-incomplete"));
  EXPECT_EQ(missing.Get("p", "interpersonal-safety-incomplete").def->route, "none");
  // All four absent in a counted AHC screening (and no total).
  EXPECT_TRUE(One(kAhc, {{"/71802-3", {"LA31993-1"}}}).Has("p", "interpersonal-safety-incomplete"));
  // Two answers on one item, or an unscored answer, make the item unanswered.
  auto two = Hits("LA6270-8", "LA6270-8", "LA10066-1", "LA6482-9");
  two[0].answers.push_back("LA6482-9");
  EXPECT_TRUE(One(kAhc, two).Has("p", "interpersonal-safety-incomplete"));
  EXPECT_FALSE(One(kAhc, two).Has("p", "interpersonal-safety"));
  EXPECT_TRUE(One(kAhc, Hits("LA6270-8", "LA6270-8", "LA6482-9", "LA30122-8"))
                  .Has("p", "interpersonal-safety-incomplete"));
}

// Issue 14 item 3: an unanswered or declined item counts as its lowest points (1); when even
// that lower bound is above 10, no answer could change the decision.
TEST_F(RulesTest, HitsDecidedByBoundsWhenAnItemIsDeclined) {
  // 5 + 5 + 5 + declined ≥ 16 > 10: positive, not incomplete.
  auto o = One(kAhc, Hits("LA6482-9", "LA6482-9", "LA6482-9", nullptr));
  ASSERT_TRUE(o.Has("p", "interpersonal-safety"));
  EXPECT_FALSE(o.Has("p", "interpersonal-safety-incomplete"));
  EXPECT_EQ(o.Get("p", "interpersonal-safety").rules, std::vector<std::string>{"ahc-hrsn.hits"});
  EXPECT_THAT(o.Get("p", "interpersonal-safety").why[0], ::testing::HasSubstr("at least 16 > 10"));
  // An unscored answer ("choose not to answer") or two answers count as declined.
  EXPECT_TRUE(One(kAhc, Hits("LA6482-9", "LA6482-9", "LA6482-9", "LA30122-8"))
                  .Has("p", "interpersonal-safety"));
  // 4 + 3 + 3 + declined ≥ 11: decided. 4 + 3 + 2 + declined ≥ 10: not decided.
  EXPECT_TRUE(One(kAhc, Hits("LA16644-9", "LA10082-8", "LA10082-8", nullptr))
                  .Has("p", "interpersonal-safety"));
  auto ten = One(kAhc, Hits("LA16644-9", "LA10082-8", "LA10066-1", nullptr));
  EXPECT_FALSE(ten.Has("p", "interpersonal-safety"));
  EXPECT_TRUE(ten.Has("p", "interpersonal-safety-incomplete"));
}

TEST_F(RulesTest, HitsTotalCountsOnlyWhenNoItemIsPresent) {
  auto with_total = [&](const std::vector<Item>& items, const std::string& total) {
    std::string qr = Qr("q", "p", kAhc, "2024-05-01", items);
    qr.insert(qr.rfind(']'), std::string(items.empty() ? "" : ",") +
                                 R"({"linkId":"/95614-4","answer":[{"valueDecimal":)" + total +
                                 "}]}");
    return h.Run({PatientJson("p"), qr});
  };
  auto positive = with_total({}, "12");
  ASSERT_TRUE(positive.Has("p", "interpersonal-safety"));
  EXPECT_FALSE(positive.Has("p", "interpersonal-safety-incomplete"));
  EXPECT_THAT(EvidenceOf(positive.Get("p", "interpersonal-safety")),
              ElementsAre("QuestionnaireResponse/q"));
  auto negative = with_total({}, "10");
  EXPECT_FALSE(negative.Has("p", "interpersonal-safety"));
  EXPECT_FALSE(negative.Has("p", "interpersonal-safety-incomplete"));
  // A total that is not a whole number decides nothing.
  EXPECT_TRUE(with_total({}, "12.5").Has("p", "interpersonal-safety-incomplete"));
  // One item present (declined items aside): the total is not read; 5 + 3 × 1 = 8.
  auto item = with_total({{"/95618-5", {"LA6482-9"}}}, "16");
  EXPECT_FALSE(item.Has("p", "interpersonal-safety"));
  EXPECT_TRUE(item.Has("p", "interpersonal-safety-incomplete"));
}

TEST_F(RulesTest, HitsOnlyForAhcCore) {
  // Other instruments never produce the incomplete flag.
  EXPECT_FALSE(One(kPrapare, {{"/93042-0/71802-3", {"LA30189-7"}}})
                   .Has("p", "interpersonal-safety-incomplete"));
  EXPECT_FALSE(
      One(kHvs, {{"/88122-7", {"LA28398-8"}}}).Has("p", "interpersonal-safety-incomplete"));
}

TEST_F(RulesTest, FinancialStrain) {
  for (const char* a : {"LA15832-1", "LA14745-6", "LA22683-9"}) {
    auto o = One(kAhcSupp, {{"/76513-1", {a}}});
    ASSERT_TRUE(o.Has("p", "financial-strain")) << a;
    EXPECT_EQ(o.Get("p", "financial-strain").def->route, "social-work");
  }
  EXPECT_FALSE(One(kAhcSupp, {{"/76513-1", {"LA31980-8"}}}).Has("p", "financial-strain"));
}

const char* kRequired = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired";
const char* kNeeded = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-interpreter-needed";

std::string Ext(const char* url, const std::string& value) {
  return std::string(R"({"url":")") + url + R"(",)" + value + "}";
}
std::string Snomed(const char* code) {
  return std::string(R"("valueCoding":{"system":"http://snomed.info/sct","code":")") + code +
         R"("})";
}
std::string Comm(const char* tag, bool preferred) {
  return std::string(R"({"language":{"coding":[{"system":"urn:ietf:bcp:47","code":")") + tag +
         R"("}]},"preferred":)" + (preferred ? "true" : "false") + "}";
}

TEST_F(RulesTest, InterpreterExplicitYesIsConfirmedWithPatientEvidenceOnly) {
  for (const std::string& ext :
       {Ext(kRequired, R"("valueBoolean":true)"), Ext(kNeeded, Snomed("373066001"))}) {
    auto o = h.Run({PatientJson("p", R"("extension":[)" + ext + R"(],"communication":[)" +
                                         Comm("es", true) + "]"),
                    Qr("q", "p", kPrapare, "2024-05-01", {{"/93043-8/54899-0", {"LA30188-9"}}})});
    ASSERT_TRUE(o.Has("p", "interpreter")) << ext;
    const NeedFlag& f = o.Get("p", "interpreter");
    EXPECT_FALSE(f.possible);
    EXPECT_EQ(EvidenceOf(f), std::vector<std::string>{"Patient/p"});
    EXPECT_EQ(f.rules, std::vector<std::string>{"patient.interpreter-needed"});
    EXPECT_EQ(f.def->route, "interpreter");
  }
}

TEST_F(RulesTest, InterpreterExplicitNoIsNeverOverridden) {
  for (const std::string& ext :
       {Ext(kRequired, R"("valueBoolean":false)"), Ext(kNeeded, Snomed("373067005"))}) {
    auto o = h.Run({PatientJson("p", R"("extension":[)" + ext + R"(],"communication":[)" +
                                         Comm("es", true) + "]"),
                    Qr("q", "p", kPrapare, "2024-05-01", {{"/93043-8/54899-0", {"LA30188-9"}}}),
                    Qr("s", "p", kAhcSupp, "2024-05-01", {{"/97027-7", {"LA33-6"}}})});
    EXPECT_FALSE(o.Has("p", "interpreter")) << ext;
  }
}

TEST_F(RulesTest, InterpreterInferredIsPossibleWithEverySource) {
  auto o = h.Run({PatientJson("p", R"("communication":[)" + Comm("es-MX", true) + "]"),
                  Qr("q", "p", kPrapare, "2024-05-01", {{"/93043-8/54899-0", {"LA30188-9"}}}),
                  Qr("s", "p", kAhcSupp, "2024-05-01", {{"/97027-7", {"LA33-6"}}})});
  ASSERT_TRUE(o.Has("p", "interpreter"));
  const NeedFlag& f = o.Get("p", "interpreter");
  EXPECT_TRUE(f.possible);
  EXPECT_THAT(EvidenceOf(f),
              ElementsAre("Patient/p", "QuestionnaireResponse/q", "QuestionnaireResponse/s"));
  EXPECT_THAT(f.rules, ElementsAre("ahc-hrsn-supplemental.language", "patient.preferred-language",
                                   "prapare.preferred-language"));
}

TEST_F(RulesTest, InterpreterUnknownCountsAsAbsent) {
  auto o = h.Run({PatientJson("p", R"("extension":[)" + Ext(kNeeded, Snomed("261665006")) +
                                       R"(],"communication":[)" + Comm("vi", true) + "]")});
  ASSERT_TRUE(o.Has("p", "interpreter"));
  EXPECT_TRUE(o.Get("p", "interpreter").possible);
}

TEST_F(RulesTest, InterpreterNotFromEnglishOrNonPreferredLanguage) {
  EXPECT_FALSE(h.Run({PatientJson("p", R"("communication":[)" + Comm("en-US", true) + "," +
                                           Comm("es", false) + "]")})
                   .Has("p", "interpreter"));
  EXPECT_FALSE(One(kPrapare, {{"/93043-8/54899-0", {"LA43-5"}}}).Has("p", "interpreter"));
  EXPECT_FALSE(One(kAhcSupp, {{"/97027-7", {"LA32-8"}}}).Has("p", "interpreter"));
}

TEST_F(RulesTest, EvidenceAndRulesAreUnionedAcrossInstruments) {
  auto o = h.Run({PatientJson("p"), Qr("a", "p", kHvs, "2024-05-01", {{"/88122-7", {"LA6729-3"}}}),
                  Qr("b", "p", kPrapare, "2024-05-02", {{"/93041-2/93031-3", {"LA30125-1"}}})});
  ASSERT_TRUE(o.Has("p", "food"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "food")),
              ElementsAre("QuestionnaireResponse/a", "QuestionnaireResponse/b"));
  EXPECT_THAT(o.Get("p", "food").rules, ElementsAre("hvs.food", "prapare.food"));
}

TEST_F(RulesTest, BothSafetyNeedsCanCoexist) {
  auto o = h.Run({PatientJson("p"), Qr("a", "p", kAhc, "2024-05-01", {{"/71802-3", {"LA31993-1"}}}),
                  Qr("b", "p", kPrapare, "2024-05-01", {{"/93039-6/76501-6", {"LA33-6"}}})});
  EXPECT_TRUE(o.Has("p", "interpersonal-safety"));
  EXPECT_TRUE(o.Has("p", "interpersonal-safety-incomplete"));
}

}  // namespace
}  // namespace sdoh::testing
