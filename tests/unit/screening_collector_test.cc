// Screening semantics: what counts, newest wins, reading answers, panels, evidence.
#include "plugin/screening/screening_collector.h"

#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

using ::testing::ElementsAre;

const std::vector<Item> kFoodPositive = {{"/88122-7", {"LA28397-0"}}};
const std::vector<Item> kFoodNegative = {{"/88122-7", {"LA28398-8"}}, {"/88123-5", {"LA28398-8"}}};

class ScreeningTest : public ::testing::Test {
 protected:
  Harness h;
};

TEST_F(ScreeningTest, OnlyCompletedOrAmendedQrsCount) {
  EXPECT_TRUE(h.Run({Qr("q", "p", kHvs, "2024-05-01", kFoodPositive, "amended")}).Has("p", "food"));
  for (const char* st : {"in-progress", "stopped", "entered-in-error"}) {
    auto o = h.Run({Qr("q", "p", kHvs, "2024-05-01", kFoodPositive, st)});
    EXPECT_FALSE(o.Has("p", "food")) << st;
    EXPECT_EQ(o.counts.ignored.at(std::string("QuestionnaireResponse: status ") + st), 1u);
    EXPECT_EQ(o.counts.TotalSkipped(), 0u);
  }
}

TEST_F(ScreeningTest, QrNeedsAuthoredAndAMappedForm) {
  auto o = h.Run({Qr("q", "p", kHvs, "", kFoodPositive)});
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(o.counts.ignored.at("QuestionnaireResponse: authored missing"), 1u);
  // A form with nothing to map it by (no Questionnaire, local linkIds) is dropped and counted.
  o = h.Run({Qr("q", "p", "http://example.org/Questionnaire/other", "2024-05-01",
                {{"food-1", {"LA28397-0"}}})});
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(o.counts.ignored.at("QuestionnaireResponse: form not mapped to an instrument"), 1u);
}

TEST_F(ScreeningTest, CanonicalVersionIsStripped) {
  EXPECT_TRUE(h.Run({Qr("q", "p", std::string(kHvs) + "|2.0", "2024-05-01", kFoodPositive)})
                  .Has("p", "food"));
}

TEST_F(ScreeningTest, NewestWinsAndReplacesWholesale) {
  // Older positive, newer screening that left the food questions unanswered → no flag.
  auto o = h.Run({Qr("old", "p", kAhc, "2024-01-01", kFoodPositive),
                  Qr("new", "p", kAhc, "2024-06-01", {{"/71802-3", {"LA31993-1"}}})});
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(o.counts.ignored.at("QuestionnaireResponse: superseded by a newer screening"), 1u);
  // Older negative, newer positive.
  EXPECT_TRUE(h.Run({Qr("old", "p", kHvs, "2024-01-01", kFoodNegative),
                     Qr("new", "p", kHvs, "2024-06-01", kFoodPositive)})
                  .Has("p", "food"));
}

TEST_F(ScreeningTest, InstantsCompareAcrossZones) {
  // 08:00-05:00 = 13:00Z is newer than a zone-less 10:00 (read as UTC).
  auto o = h.Run({Qr("a", "p", kHvs, "2024-05-01T10:00:00", kFoodPositive),
                  Qr("b", "p", kHvs, "2024-05-01T08:00:00-05:00", kFoodNegative)});
  EXPECT_FALSE(o.Has("p", "food"));
  // A date-only value is midnight: it loses to any time later that day.
  o = h.Run({Qr("a", "p", kHvs, "2024-05-01", kFoodNegative),
             Qr("b", "p", kHvs, "2024-05-01T00:30:00Z", kFoodPositive)});
  EXPECT_TRUE(o.Has("p", "food"));
}

TEST_F(ScreeningTest, ConfiguredZoneAppliesToZonelessValues) {
  auto ny = fhir::TimeZone::Parse("America/New_York");
  ASSERT_TRUE(ny.ok());
  // In New York, 2024-05-01T10:00 local is 14:00Z: newer than 13:00Z.
  auto o = h.Run({Qr("a", "p", kHvs, "2024-05-01T10:00:00", kFoodPositive),
                  Qr("b", "p", kHvs, "2024-05-01T13:00:00Z", kFoodNegative)},
                 *ny);
  EXPECT_TRUE(o.Has("p", "food"));
  o = h.Run({Qr("a", "p", kHvs, "2024-05-01T10:00:00", kFoodPositive),
             Qr("b", "p", kHvs, "2024-05-01T13:00:00Z", kFoodNegative)});
  EXPECT_FALSE(o.Has("p", "food"));  // UTC: 10:00Z is older
}

TEST_F(ScreeningTest, EqualInstantsGreaterIdWins) {
  auto o = h.Run({Qr("b", "p", kHvs, "2024-05-01T10:00:00Z", kFoodPositive),
                  Qr("a", "p", kHvs, "2024-05-01T05:00:00-05:00", kFoodNegative)});
  ASSERT_TRUE(o.Has("p", "food"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "food")), ElementsAre("QuestionnaireResponse/b"));
}

TEST_F(ScreeningTest, IgnoredResourcesNeverHideACountedOne) {
  auto o = h.Run({Qr("old", "p", kHvs, "2024-01-01", kFoodPositive),
                  Qr("new", "p", kHvs, "2024-06-01", kFoodNegative, "in-progress")});
  EXPECT_TRUE(o.Has("p", "food"));
}

TEST_F(ScreeningTest, EnteredInErrorVersionRetractsTheSameResource) {
  std::string v1 = Qr("q", "p", kHvs, "2024-05-01", kFoodPositive);
  std::string v2 = Qr("q", "p", kHvs, "2024-05-01", kFoodPositive, "entered-in-error");
  v1.insert(1, R"("meta":{"versionId":"1"},)");
  v2.insert(1, R"("meta":{"versionId":"2"},)");
  // Order of lines does not matter: the higher version decides.
  EXPECT_FALSE(h.Run({v2, v1}).Has("p", "food"));
  EXPECT_FALSE(h.Run({v1, v2}).Has("p", "food"));
  // An older screening of the instrument then counts again.
  auto o = h.Run({v1, v2, Qr("older", "p", kHvs, "2023-01-01", {{"/88123-5", {"LA6729-3"}}})});
  ASSERT_TRUE(o.Has("p", "food"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "food")), ElementsAre("QuestionnaireResponse/older"));
}

TEST_F(ScreeningTest, QuestionFromQuestionnaireThenLinkMapThenLoincSegment) {
  const std::string form = "http://clinic.example.org/fhir/Questionnaire/hunger-check";
  std::string questionnaire =
      R"({"resourceType":"Questionnaire","id":"hc","url":")" + form +
      R"(","status":"active","item":[{"linkId":"hc-1","type":"choice","code":[{"system":"http://loinc.org","code":"88122-7"}]}]})";
  // (a) without the Questionnaire the local linkId means nothing.
  EXPECT_FALSE(
      h.Run({Qr("q", "p", form, "2024-05-01", {{"hc-1", {"LA28397-0"}}})}).Has("p", "food"));
  EXPECT_TRUE(h.Run({questionnaire, Qr("q", "p", form, "2024-05-01", {{"hc-1", {"LA28397-0"}}})})
                  .Has("p", "food"));
  // (b) the combined local form's linkId map, each question to its own instrument.
  const std::string intake = "http://clinic.example.org/fhir/Questionnaire/sdoh-intake";
  auto o = h.Run({Qr("q", "p", intake, "2024-05-01",
                     {{"q3-food-worry", {"LA6729-3"}}, {"q11-pay-basics", {"LA15832-1"}}})});
  EXPECT_THAT(o.Get("p", "food").rules, ElementsAre("ahc-hrsn.food"));
  EXPECT_THAT(o.Get("p", "financial-strain").rules,
              ElementsAre("ahc-hrsn-supplemental.financial-strain"));
  // (c) a LOINC-shaped last segment; a non-LOINC last segment is not a question.
  EXPECT_TRUE(h.Run({Qr("q", "p", kHvs, "2024-05-01", {{"/group/88122-7", {"LA28397-0"}}})})
                  .Has("p", "food"));
  EXPECT_FALSE(
      h.Run({Qr("q", "p", kHvs, "2024-05-01", {{"88122-7x", {"LA28397-0"}}})}).Has("p", "food"));
}

TEST_F(ScreeningTest, AnswersAreReadByCodingNeverByDisplay) {
  std::string qr = R"({"resourceType":"QuestionnaireResponse","id":"q","status":"completed",
    "questionnaire":"http://loinc.org/q/88121-9","authored":"2024-05-01","subject":{"reference":"Patient/p"},
    "item":[{"linkId":"/88122-7","answer":[{"valueCoding":{"system":"http://example.org","code":"LA28397-0","display":"Often true"}}]},
            {"linkId":"/88123-5","answer":[{"valueString":"Often true"}]}]})";
  EXPECT_FALSE(h.Run({qr}).Has("p", "food"));
}

TEST_F(ScreeningTest, NestedItemsAndAnswerItemsAreRead) {
  std::string qr = R"({"resourceType":"QuestionnaireResponse","id":"q","status":"completed",
    "questionnaire":"http://loinc.org/q/93025-5","authored":"2024-05-01","subject":{"reference":"https://ehr.example.org/fhir/Patient/p"},
    "item":[{"linkId":"/93041-2","item":[{"linkId":"/93041-2/93030-5","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA32-8"},
      "item":[{"linkId":"/93041-2/93031-3","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA30125-1"}}]}]}]}]}]})";
  auto o = h.Run({qr});
  EXPECT_TRUE(o.Has("p", "food"));  // absolute subject on a source alias: Patient/p
  EXPECT_FALSE(o.Has("p", "transportation"));
}

TEST_F(ScreeningTest, PanelMembersTransitivelyWithMemberEvidence) {
  auto o = h.Run({Panel("panel", "p", "96777-8", "2024-05-01", {"m1", "grp"}),
                  Obs("m1", "p", "93030-5", "LA33-6"), Obs("grp", "p", "96778-6", "", {"a1", "a2"}),
                  Obs("a1", "p", "96778-6", "LA9-3"), Obs("a2", "p", "96778-6", "LA28580-1")});
  ASSERT_TRUE(o.Has("p", "transportation"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "transportation")), ElementsAre("Observation/m1"));
  ASSERT_TRUE(o.Has("p", "housing-quality"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "housing-quality")), ElementsAre("Observation/a2"));
  // HITS absent in the AHC panel: incomplete, evidence the panel itself.
  EXPECT_THAT(EvidenceOf(o.Get("p", "interpersonal-safety-incomplete")),
              ElementsAre("Observation/panel"));
}

TEST_F(ScreeningTest, HitsPositiveFromPanelNamesAllFourItems) {
  auto o = h.Run({Panel("panel", "p", "96777-8", "2024-05-01", {"h1", "h2", "h3", "h4"}),
                  Obs("h1", "p", "95618-5", "LA6482-9"), Obs("h2", "p", "95617-7", "LA6482-9"),
                  Obs("h3", "p", "95616-9", "LA6270-8"), Obs("h4", "p", "95615-1", "LA6270-8")});
  ASSERT_TRUE(o.Has("p", "interpersonal-safety"));  // 5+5+1+1 = 12
  EXPECT_THAT(EvidenceOf(o.Get("p", "interpersonal-safety")),
              ElementsAre("Observation/h1", "Observation/h2", "Observation/h3", "Observation/h4"));
}

TEST_F(ScreeningTest, PanelStatusEffectiveAndMemberValidity) {
  EXPECT_FALSE(h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m"}, "preliminary"),
                      Obs("m", "p", "88122-7", "LA28397-0")})
                   .Has("p", "food"));
  EXPECT_FALSE(
      h.Run({Panel("panel", "p", "88121-9", "", {"m"}), Obs("m", "p", "88122-7", "LA28397-0")})
          .Has("p", "food"));
  std::string period = Panel("panel", "p", "88121-9", "", {"m"});
  period.insert(period.size() - 1, R"(,"effectivePeriod":{"start":"2024-05-01"})");
  EXPECT_TRUE(h.Run({period, Obs("m", "p", "88122-7", "LA28397-0")}).Has("p", "food"));
  // An invalid-status member does not count, nor what is reached only through it.
  EXPECT_FALSE(h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"g"}),
                      Obs("g", "p", "88122-7", "", {"m"}, "preliminary"),
                      Obs("m", "p", "88122-7", "LA28397-0")})
                   .Has("p", "food"));
  EXPECT_FALSE(h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m"}),
                      Obs("m", "p", "88122-7", "LA28397-0", {}, "entered-in-error")})
                   .Has("p", "food"));
  // A member of another patient is not read.
  EXPECT_FALSE(h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m"}),
                      Obs("m", "other", "88122-7", "LA28397-0")})
                   .Has("p", "food"));
}

TEST_F(ScreeningTest, DataAbsentMemberIsUnanswered) {
  std::string declined = Obs("h4", "p", "95615-1", "");
  declined.insert(
      declined.size() - 1,
      R"(,"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"asked-declined"}]})");
  auto o = h.Run({Panel("panel", "p", "96777-8", "2024-05-01", {"h1", "h2", "h3", "h4"}),
                  Obs("h1", "p", "95618-5", "LA6270-8"), Obs("h2", "p", "95617-7", "LA6270-8"),
                  Obs("h3", "p", "95616-9", "LA6270-8"), declined});
  EXPECT_FALSE(o.Has("p", "interpersonal-safety"));
  EXPECT_TRUE(o.Has("p", "interpersonal-safety-incomplete"));
  // 5 + 5 + 5 + declined is decided (issue 14 item 3): evidence the three answered members.
  o = h.Run({Panel("panel", "p", "96777-8", "2024-05-01", {"h1", "h2", "h3", "h4"}),
             Obs("h1", "p", "95618-5", "LA6482-9"), Obs("h2", "p", "95617-7", "LA6482-9"),
             Obs("h3", "p", "95616-9", "LA6482-9"), declined});
  ASSERT_TRUE(o.Has("p", "interpersonal-safety"));
  EXPECT_FALSE(o.Has("p", "interpersonal-safety-incomplete"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "interpersonal-safety")),
              ElementsAre("Observation/h1", "Observation/h2", "Observation/h3"));
}

TEST_F(ScreeningTest, QrAndPanelOfOneInstrumentCompete) {
  auto o = h.Run({Qr("q", "p", kHvs, "2024-05-01", kFoodPositive),
                  Panel("panel", "p", "88121-9", "2024-05-02", {"m"}),
                  Obs("m", "p", "88122-7", "LA28398-8")});
  EXPECT_FALSE(o.Has("p", "food"));
}

TEST_F(ScreeningTest, ObservationsNotReachedByACountedPanelAreIgnored) {
  auto o = h.Run({Obs("loose", "p", "88122-7", "LA28397-0"), Obs("bp", "p", "85354-9", "")});
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(o.counts.ignored.at("Observation: not reached by a counted panel"), 1u);
  EXPECT_EQ(o.counts.ignored.at("Observation: not a screening observation"), 1u);
}

TEST_F(ScreeningTest, MissingSubjectOrWrongTypeIsSkippedWithReason) {
  std::string no_subject = R"({"resourceType":"QuestionnaireResponse","id":"q","status":"completed",
    "questionnaire":"http://loinc.org/q/88121-9","authored":"2024-05-01"})";
  auto o = h.Run({no_subject});
  EXPECT_EQ(o.counts.skipped.at("missing-subject"), 1u);
  Harness h2;
  ScreeningCollector c(*h2.pipeline().catalog, {});
  rapidjson::Document d;
  d.Parse(R"({"resourceType":"Patient","id":"x"})");
  c.OnResource("Observation", d, {"Observation.ndjson", 7});
  EXPECT_EQ(c.counts().skipped.at("wrong-resource-type"), 1u);
  ASSERT_EQ(c.counts().skip_examples.size(), 1u);
  EXPECT_EQ(c.counts().skip_examples[0].where, "Observation.ndjson:7");
}

TEST_F(ScreeningTest, InactiveAndDeceasedPatientsStillGetFlags) {
  auto o = h.Run({PatientJson("p", R"("active":false,"deceasedBoolean":true)"),
                  Qr("q", "p", kHvs, "2024-05-01", kFoodPositive)});
  EXPECT_TRUE(o.Has("p", "food"));
}

}  // namespace
}  // namespace sdoh::testing

namespace sdoh {
namespace {

// A screening's sources: 0 is the screening itself, then its counted members in order; the
// references are made from the one member string (issue 17).
TEST(ScreeningSourcesTest, SourceReferencesAreTheScreeningThenItsMembersInOrder) {
  Screening s;
  s.kind = ScreeningKind::kObservationPanel;
  s.id = "panel-1";
  s.source_versions = {"2"};
  for (const char* id : {"m.1", "m-22", "M333"}) {
    s.AddMemberSource(id);
    s.source_versions.push_back("");
  }
  ASSERT_EQ(s.SourceCount(), 4u);
  EXPECT_EQ(s.SourceReference(0), "Observation/panel-1");
  EXPECT_EQ(s.SourceReference(1), "Observation/m.1");
  EXPECT_EQ(s.SourceReference(2), "Observation/m-22");
  EXPECT_EQ(s.SourceReference(3), "Observation/M333");
  Screening qr;
  qr.id = "qr-9";
  qr.source_versions = {""};
  ASSERT_EQ(qr.SourceCount(), 1u);
  EXPECT_EQ(qr.SourceReference(0), "QuestionnaireResponse/qr-9");
}

}  // namespace
}  // namespace sdoh
