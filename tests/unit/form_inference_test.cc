// Issue 14 item 5: forms mappings/forms/ does not name are inferred, or counted as dropped.
#include "plugin/screening/form_inference.h"

#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

using ::testing::ElementsAre;

const char* kVendor = "http://vendor.example.com/fhir/Questionnaire/social-needs";

std::string VendorQuestionnaire() {
  return std::string(R"({"resourceType":"Questionnaire","id":"vq","url":")") + kVendor +
         R"(","version":"3","status":"active","item":[
      {"linkId":"sn-food-1","type":"choice","code":[{"system":"http://loinc.org","code":"88122-7"}]},
      {"linkId":"sn-food-2","type":"choice","code":[{"system":"http://loinc.org","code":"88123-5"}]},
      {"linkId":"sn-comment","type":"text"}]})";
}

class FormInferenceTest : public ::testing::Test {
 protected:
  std::vector<std::string> InstrumentIds(const FormSeen& f) {
    std::vector<std::string> ids;
    for (InstrumentIndex i : f.instruments)
      ids.push_back(h.pipeline().catalog->instruments()[i].id);
    return ids;
  }
  Harness h;
};

TEST_F(FormInferenceTest, UnregisteredVendorFormWithItsQuestionnaireIsInferred) {
  auto o = h.Run(
      {VendorQuestionnaire(), Qr("q", "p", std::string(kVendor) + "|3", "2024-05-01",
                                 {{"sn-food-1", {"LA28398-8"}}, {"sn-food-2", {"LA6729-3"}}})});
  ASSERT_TRUE(o.Has("p", "food"));
  // The two food questions are read as HVS (the smallest instrument asking both), not AHC core
  // (which would also give an "incomplete safety screen").
  EXPECT_EQ(o.Get("p", "food").rules, std::vector<std::string>{"hvs.food"});
  EXPECT_FALSE(o.Has("p", "interpersonal-safety-incomplete"));
  const FormSeen& f = o.forms.at(kVendor);
  EXPECT_EQ(f.status, FormStatus::kInferred);
  EXPECT_EQ(f.responses, 1u);
  EXPECT_EQ(f.dropped, 0u);
  EXPECT_TRUE(f.questionnaire);
  EXPECT_THAT(InstrumentIds(f), ElementsAre("hvs"));
  EXPECT_EQ(f.link_ids.at("sn-food-1"), "88122-7");
  EXPECT_EQ(o.dropped_forms, 0u);
}

TEST_F(FormInferenceTest, ResponseWithoutQuestionnaireIsInferredFromLoincShapedLinkIds) {
  auto o = h.Run({Qr("q", "p", kVendor, "2024-05-01",
                     {{"/71802-3", {"LA31995-6"}}, {"/96779-4", {"LA33-6"}}})});
  EXPECT_TRUE(o.Has("p", "housing-instability"));
  EXPECT_TRUE(o.Has("p", "utilities"));
  const FormSeen& f = o.forms.at(kVendor);
  EXPECT_EQ(f.status, FormStatus::kInferred);
  EXPECT_FALSE(f.questionnaire);
  EXPECT_THAT(InstrumentIds(f), ElementsAre("ahc-hrsn"));
  // A QR without any questionnaire at all is inferred the same way.
  auto none = R"({"resourceType":"QuestionnaireResponse","id":"n","status":"completed",
    "subject":{"reference":"Patient/p"},"authored":"2024-05-01",
    "item":[{"linkId":"/88122-7","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA28397-0"}}]}]})";
  EXPECT_TRUE(h.Run({none}).Has("p", "food"));
}

TEST_F(FormInferenceTest, FormWithNothingToInferFromIsCountedAsDropped) {
  auto o =
      h.Run({Qr("q1", "p", kVendor, "2024-05-01", {{"sn-food-1", {"LA28397-0"}}}),
             Qr("q2", "p", kVendor, "2024-06-01", {{"sn-food-1", {"LA28397-0"}}}),
             Qr("q3", "p", kVendor, "2024-06-01", {{"sn-food-1", {"LA28397-0"}}}, "in-progress")});
  EXPECT_FALSE(o.Has("p", "food"));
  const FormSeen& f = o.forms.at(kVendor);
  EXPECT_EQ(f.status, FormStatus::kUnmapped);
  EXPECT_EQ(f.responses, 2u);  // in-progress responses are not screenings
  EXPECT_EQ(f.dropped, 2u);
  EXPECT_EQ(o.dropped_forms, 2u);
  EXPECT_EQ(f.link_ids.at("sn-food-1"), "");
  // A Questionnaire that asks no configured question does not make it mappable.
  auto other = h.Run(
      {R"({"resourceType":"Questionnaire","id":"x","url":"http://x.org/q","item":[{"linkId":"a","code":[{"system":"http://loinc.org","code":"29463-7"}]}]})",
       Qr("q", "p", "http://x.org/q", "2024-05-01", {{"a", {"LA28397-0"}}})});
  EXPECT_EQ(other.dropped_forms, 1u);
  EXPECT_TRUE(other.forms.at("http://x.org/q").questionnaire);
}

TEST_F(FormInferenceTest, InferenceOffDropsAndCounts) {
  auto o = h.Run(
      {VendorQuestionnaire(), Qr("q", "p", kVendor, "2024-05-01", {{"sn-food-1", {"LA28397-0"}}})},
      fhir::TimeZone::Utc(), /*infer_forms=*/false);
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(o.dropped_forms, 1u);
  // What could have been inferred is still known (for `sdoh-bridge forms`).
  EXPECT_EQ(o.forms.at(kVendor).link_ids.at("sn-food-1"), "88122-7");
}

TEST_F(FormInferenceTest, MappedFormsAndFormsMappedAsNotAScreening) {
  auto o = h.Run({Qr("q", "p", kHvs, "2024-05-01", {{"/88122-7", {"LA28397-0"}}}),
                  Qr("f", "p", "http://clinic.example.org/fhir/Questionnaire/visit-feedback",
                     "2024-05-01", {{"/71802-3", {"LA31995-6"}}})});
  EXPECT_EQ(o.forms.at(kHvs).status, FormStatus::kMapped);
  EXPECT_EQ(o.forms.at("http://clinic.example.org/fhir/Questionnaire/visit-feedback").status,
            FormStatus::kNotScreening);
  EXPECT_FALSE(o.Has("p", "housing-instability"));
  EXPECT_EQ(o.dropped_forms, 0u);
}

TEST_F(FormInferenceTest, CoverQuestionsPicksTheFewestSmallestInstruments) {
  const Catalog& c = *h.pipeline().catalog;
  auto ids = [&](std::vector<const char*> codes) {
    std::vector<CodeId> qs;
    for (const char* code : codes) qs.push_back(c.codes().Find(code));
    std::vector<std::string> out;
    for (InstrumentIndex i : FormInference::CoverQuestions(c, qs)) {
      out.push_back(c.instruments()[i].id);
    }
    return out;
  };
  EXPECT_THAT(ids({"88122-7", "88123-5"}), ElementsAre("hvs"));
  EXPECT_THAT(ids({"88122-7", "95618-5"}), ElementsAre("ahc-hrsn"));
  EXPECT_THAT(ids({"88122-7", "76513-1"}),
              ::testing::UnorderedElementsAre("hvs", "ahc-hrsn-supplemental"));
  EXPECT_THAT(ids({"93033-9"}), ElementsAre("prapare"));
}

}  // namespace
}  // namespace sdoh::testing
