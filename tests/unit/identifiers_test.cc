// The identity module (plugin/referrals/identifiers.h): values are unambiguous for every
// (patient id, need), never name the need, parse back to their need for their own patient only,
// and format-1 values written by earlier releases are still recognised.
#include "plugin/referrals/identifiers.h"

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace sdoh {
namespace {

const Catalog& TheCatalog() {
  static const std::unique_ptr<Catalog> catalog =
      std::move(*Catalog::Load(std::string(SDOH_SOURCE_DIR) + "/mappings"));
  return *catalog;
}

std::vector<std::string> Needs() {
  std::vector<std::string> out;
  for (const auto& [name, def] : TheCatalog().needs()) out.push_back(name);
  return out;
}

NeedFlag Flag(const std::string& patient, const std::string& need) {
  NeedFlag f;
  f.patient_id = patient;
  f.need = need;
  f.evidence["QuestionnaireResponse/qr1"] = "2";
  return f;
}

// Patient ids that prefix/suffix tricks with need names would make collide under
// "<need>-<patient id>": every need name and its dash-separated tails glued onto a base id.
std::vector<std::string> TrickyIds() {
  std::vector<std::string> ids = {
      "pat29", "incomplete-pat29", "safety-incomplete-pat29", "a", "a-b", "b", "1", "-1", "1-"};
  for (const std::string& need : Needs()) {
    for (size_t dash = need.find('-'); dash != std::string::npos; dash = need.find('-', dash + 1)) {
      ids.push_back(need.substr(dash + 1) + "-pat29");
    }
    ids.push_back(need + "-pat29");
  }
  return ids;
}

TEST(IdentifiersTest, ThePrefixPairFromTheReportGetsDistinctValues) {
  EXPECT_NE(FlagIdentifier("incomplete-pat29", "interpersonal-safety"),
            FlagIdentifier("pat29", "interpersonal-safety-incomplete"));
  EXPECT_NE(ServiceRequestIdentifier(Flag("incomplete-pat29", "interpersonal-safety")),
            ServiceRequestIdentifier(Flag("pat29", "interpersonal-safety-incomplete")));
}

TEST(IdentifiersTest, NoCollisionOverRandomAndTrickyIdsAndAllNeeds) {
  std::mt19937 rng(20261203);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.";
  std::vector<std::string> ids = TrickyIds();
  for (int i = 0; i < 400; ++i) {
    std::string id(1 + rng() % 64, 'x');
    for (char& c : id) c = alphabet[rng() % alphabet.size()];
    ids.push_back(id);
  }
  std::set<std::string> distinct_ids(ids.begin(), ids.end());
  std::map<std::string, std::pair<std::string, std::string>> seen;  // value → (patient, need)
  for (const std::string& patient : distinct_ids) {
    for (const std::string& need : Needs()) {
      const std::string sr = ServiceRequestIdentifier(Flag(patient, need));
      for (const std::string& value : {FlagIdentifier(patient, need), sr, TaskIdentifier(sr)}) {
        auto [it, inserted] = seen.emplace(value, std::make_pair(patient, need));
        EXPECT_TRUE(inserted) << value << " for " << patient << "/" << need << " and "
                              << it->second.first << "/" << it->second.second;
        EXPECT_EQ(value.find(need), std::string::npos) << value << " names " << need;
      }
    }
  }
  EXPECT_EQ(seen.size(), distinct_ids.size() * Needs().size() * 3);
}

// The values are the digests identifiers.h documents, computed here from the formula: the
// length-prefixed fields ("<bytes>:<field>;"), SHA-256, the first 16 (K) or 32 (E) hex digits;
// evidence sorted, each with "/_history/<versionId>" when it has one. Fails when a value's
// bytes change (issue 17 builds them in place, without temporaries).
TEST(IdentifiersTest, ValuesAreTheDocumentedDigests) {
  auto field = [](const std::string& s) { return std::to_string(s.size()) + ":" + s + ";"; };
  NeedFlag f;
  f.patient_id = "pat01";
  f.need = "food-insecurity";
  f.evidence["QuestionnaireResponse/qr1"] = "";
  f.evidence["Observation/o1"] = "3";
  f.evidence["Patient/pat01"] = "12";
  const std::string k = Sha256Hex(field("need") + field("pat01") + field("food-insecurity"));
  const std::string e =
      Sha256Hex(field("referral") + field("pat01") + field("food-insecurity") +
                field("Observation/o1/_history/3") + field("Patient/pat01/_history/12") +
                field("QuestionnaireResponse/qr1"));
  ASSERT_EQ(k.size(), 64u);
  const std::string sr = "sr-" + k.substr(0, 16) + "-" + e.substr(0, 32);
  EXPECT_EQ(ServiceRequestIdentifier(f), sr);
  EXPECT_EQ(TaskIdentifier(sr), "task-" + k.substr(0, 16) + "-" + e.substr(0, 32));
  EXPECT_EQ(FlagIdentifier("pat01", "food-insecurity"), "flag-" + k.substr(0, 16));
  EXPECT_EQ(FlagIdentifierOf(sr), "flag-" + k.substr(0, 16));
  EXPECT_EQ(TaskIdentifier("food-insecurity-0123456789abcdef0123456789abcdef"),
            "food-insecurity-0123456789abcdef0123456789abcdef-task");  // format 1
}

// PlanReferral takes the Flag's value from the ServiceRequest's (one hash fewer per flag):
// the same value as FlagIdentifier, whatever the evidence.
TEST(IdentifiersTest, TheFlagValueFromTheServiceRequestValueIsFlagIdentifier) {
  for (const std::string& patient : TrickyIds()) {
    for (const std::string& need : Needs()) {
      NeedFlag f = Flag(patient, need);
      f.evidence["Observation/" + patient] = "";
      EXPECT_EQ(FlagIdentifierOf(ServiceRequestIdentifier(f)), FlagIdentifier(patient, need))
          << patient << "/" << need;
    }
  }
}

TEST(IdentifiersTest, ValuesParseBackToTheirNeedForTheirPatientOnly) {
  for (const std::string& patient : TrickyIds()) {
    for (const std::string& need : Needs()) {
      const std::string sr = ServiceRequestIdentifier(Flag(patient, need));
      auto f = ParseIdentifier(FlagIdentifier(patient, need), patient, TheCatalog());
      ASSERT_TRUE(f.has_value()) << patient << "/" << need;
      EXPECT_EQ(f->kind, IdentifierKind::kFlag);
      EXPECT_EQ(f->need, need);
      EXPECT_FALSE(f->legacy);
      auto s = ParseIdentifier(sr, patient, TheCatalog());
      ASSERT_TRUE(s.has_value());
      EXPECT_EQ(s->kind, IdentifierKind::kServiceRequest);
      EXPECT_EQ(s->need, need);
      EXPECT_EQ(s->service_request, sr);
      auto t = ParseIdentifier(TaskIdentifier(sr), patient, TheCatalog());
      ASSERT_TRUE(t.has_value());
      EXPECT_EQ(t->kind, IdentifierKind::kTask);
      EXPECT_EQ(t->need, need);
      EXPECT_EQ(t->service_request, sr);
      // Another patient's value is not this patient's.
      EXPECT_FALSE(ParseIdentifier(FlagIdentifier(patient, need), patient + "x", TheCatalog()));
      EXPECT_FALSE(ParseIdentifier(sr, patient + "x", TheCatalog()));
    }
  }
}

TEST(IdentifiersTest, FormatOneValuesAreRecognisedWithTheirSubject) {
  const std::string hex = "0123456789abcdef0123456789abcdef";
  auto sr = ParseIdentifier("housing-instability-" + hex, "p1", TheCatalog());
  ASSERT_TRUE(sr.has_value());
  EXPECT_TRUE(sr->legacy);
  EXPECT_EQ(sr->kind, IdentifierKind::kServiceRequest);
  EXPECT_EQ(sr->need, "housing-instability");
  auto task = ParseIdentifier("housing-instability-" + hex + "-task", "p1", TheCatalog());
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->kind, IdentifierKind::kTask);
  EXPECT_EQ(task->service_request, "housing-instability-" + hex);
  EXPECT_EQ(TaskIdentifier("housing-instability-" + hex), "housing-instability-" + hex + "-task");
  // The ambiguous format-1 Flag value resolves by its subject.
  const std::string value = "interpersonal-safety-incomplete-pat29";
  auto a = ParseIdentifier(value, "pat29", TheCatalog());
  auto b = ParseIdentifier(value, "incomplete-pat29", TheCatalog());
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(a->need, "interpersonal-safety-incomplete");
  EXPECT_EQ(b->need, "interpersonal-safety");
  EXPECT_FALSE(ParseIdentifier(value, "other", TheCatalog()));
  EXPECT_FALSE(ParseIdentifier("unknown-need-" + hex, "p1", TheCatalog()));
  EXPECT_FALSE(ParseIdentifier("food-" + hex.substr(1) + "g", "p1", TheCatalog()));
}

TEST(IdentifiersTest, RulesetIsReadFromTheTagAndFromFormatOneNotes) {
  rapidjson::Document tagged;
  tagged.Parse(R"({"meta":{"tag":[{"system":"urn:other","code":"x|y"},{"system":")" +
               std::string(kRulesetTagSystem) + R"(","code":")" +
               RulesetTagCode("sdoh-default", "1.2.0") +
               R"("}]},"note":[{"text":"Rule set lies 9.9.9. Why: x."}]})");
  auto r = RulesetOf(tagged);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, "sdoh-default");
  EXPECT_EQ(r->second, "1.2.0");
  rapidjson::Document legacy;
  legacy.Parse(
      R"({"note":[{"text":"Referral for food (Food Insecurity) from social-needs screening. Rule set sdoh-default 1.0.0. Why: hvs."}]})");
  r = RulesetOf(legacy);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, "sdoh-default");
  EXPECT_EQ(r->second, "1.0.0");
  rapidjson::Document none;
  none.Parse(R"({"note":[{"text":"free text"}]})");
  EXPECT_FALSE(RulesetOf(none).has_value());
}

}  // namespace
}  // namespace sdoh
