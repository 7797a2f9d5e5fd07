// Issue 13 #6-#9 in the screening stage, for what the CLI tests do not reach: panels, their
// members, hasMember references (tests/cli/input_integrity_test.cc has the QR and Patient cases).
#include "plugin/screening/input_policy.h"

#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

class InputPolicyTest : public ::testing::Test {
 protected:
  Harness h;
};

std::string Absolute(std::string resource, const std::string& base) {
  const std::string rel = R"("reference":"Patient/)";
  const size_t at = resource.find(rel);
  resource.replace(at, rel.size(), R"("reference":")" + base + "/Patient/");
  return resource;
}

uint64_t Ignored(const RunCounts& c, const std::string& key) {
  auto it = c.ignored.find(key);
  return it == c.ignored.end() ? 0 : it->second;
}

uint64_t Skipped(const RunCounts& c, const std::string& key) {
  auto it = c.skipped.find(key);
  return it == c.skipped.end() ? 0 : it->second;
}

TEST_F(InputPolicyTest, FutureDatedPanelDoesNotWinNewest) {
  auto o = h.Run({Panel("real", "p", "88121-9", "2024-05-01", {"m1"}),
                  Obs("m1", "p", "88122-7", "LA28397-0"),
                  Panel("later", "p", "88121-9", "2099-01-01", {"m2"}),
                  Obs("m2", "p", "88122-7", "LA28398-8")});
  EXPECT_TRUE(o.Has("p", "food"));
  EXPECT_EQ(Ignored(o.counts, "Observation: panel future-dated"), 1u);
}

TEST_F(InputPolicyTest, ForeignPanelSubjectAndForeignMembersDoNotCount) {
  auto o = h.Run({Absolute(Panel("panel", "p", "88121-9", "2024-05-01", {"m1"}),
                           "https://other-ehr.example/fhir"),
                  Obs("m1", "p", "88122-7", "LA28397-0")});
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(Ignored(o.counts, "Observation: panel foreign-subject"), 1u);
  // A local panel whose member is about a foreign subject: the member is not this patient's.
  o = h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m1"}),
             Absolute(Obs("m1", "p", "88122-7", "LA28397-0"), "https://other-ehr.example/fhir")});
  EXPECT_FALSE(o.Has("p", "food"));
  // The samples' base is a source alias in the default config: local.
  o = h.Run({Absolute(Panel("panel", "p", "88121-9", "2024-05-01", {"m1"}),
                      "https://ehr.example.org/fhir"),
             Obs("m1", "p", "88122-7", "LA28397-0")});
  EXPECT_TRUE(o.Has("p", "food"));
}

TEST_F(InputPolicyTest, HasMemberWithAnInvalidIdIsNotFollowed) {
  // "Observation/m1/x" does not name m1 (it used to: the segment after the last "Observation/").
  auto o = h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m1/x"}),
                  Obs("m1", "p", "88122-7", "LA28397-0")});
  EXPECT_FALSE(o.Has("p", "food"));
  o = h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m1"}),
             Obs("m1", "p b", "88122-7", "LA28397-0")});
  EXPECT_FALSE(o.Has("p", "food"));
  EXPECT_EQ(Skipped(o.counts, "invalid-id"), 1u);
}

TEST_F(InputPolicyTest, ConflictingMemberLinesCountForNothingInEitherOrder) {
  const std::string yes = Obs("m1", "p", "88122-7", "LA28397-0");
  const std::string no = Obs("m1", "p", "88122-7", "LA28398-8");
  for (const auto& [first, second] : {std::pair{yes, no}, std::pair{no, yes}}) {
    auto o = h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m1"}), first, second});
    EXPECT_FALSE(o.Has("p", "food"));
    EXPECT_EQ(Skipped(o.counts, "conflicting-versions"), 2u);
  }
  // The same line twice is no conflict.
  auto o = h.Run({Panel("panel", "p", "88121-9", "2024-05-01", {"m1"}), yes, yes});
  EXPECT_TRUE(o.Has("p", "food"));
  EXPECT_EQ(Skipped(o.counts, "conflicting-versions"), 0u);
}

TEST_F(InputPolicyTest, ConflictingPanelLinesCountForNothingInEitherOrder) {
  const std::string a = Panel("panel", "p", "88121-9", "2024-05-01", {"m1"});
  const std::string b = Panel("panel", "p", "88121-9", "2024-05-01", {"m2"});
  for (const auto& [first, second] : {std::pair{a, b}, std::pair{b, a}}) {
    auto o = h.Run({first, second, Obs("m1", "p", "88122-7", "LA28397-0"),
                    Obs("m2", "p", "88122-7", "LA28398-8")});
    EXPECT_FALSE(o.Has("p", "food"));
    EXPECT_EQ(Skipped(o.counts, "conflicting-versions"), 2u);
  }
}

TEST_F(InputPolicyTest, CheckSubjectShapes) {
  InputPolicy p;
  p.AddLocalBase("https://EHR.example/fhir/");
  EXPECT_EQ(CheckSubject("Patient/a", p).kind, SubjectCheck::Kind::kLocal);
  EXPECT_EQ(CheckSubject("https://ehr.example/fhir/Patient/a", p).id, "a");
  EXPECT_EQ(CheckSubject("https://ehr.example/fhir2/Patient/a", p).kind,
            SubjectCheck::Kind::kForeign);
  EXPECT_EQ(CheckSubject("https://evil.example/ehr.example/fhir/Patient/a", p).kind,
            SubjectCheck::Kind::kForeign);
  EXPECT_EQ(CheckSubject("Patient/a|b", p).kind, SubjectCheck::Kind::kInvalid);
  EXPECT_EQ(CheckSubject("Group/a", p).kind, SubjectCheck::Kind::kNone);
}

}  // namespace
}  // namespace sdoh::testing
