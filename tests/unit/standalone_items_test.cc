// Issue 14 item 4a: standalone screening item Observations (flowsheet rows, no panel).
#include "plugin/screening/standalone_items.h"

#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

using ::testing::ElementsAre;

constexpr const char* kAt = "2024-05-01T10:00:00Z";

std::string Item(const std::string& id, const std::string& question, const std::string& answer,
                 const std::string& effective = kAt, const std::string& status = "final") {
  return Obs(id, "p", question, answer, {}, status, effective);
}

class StandaloneItemsTest : public ::testing::Test {
 protected:
  Harness h;
};

TEST_F(StandaloneItemsTest, StandaloneItemsFlagFoodWithTheItemsAsEvidence) {
  auto o = h.Run(
      {PatientJson("p"), Item("i1", "88122-7", "LA28397-0"), Item("i2", "88123-5", "LA6729-3")});
  ASSERT_TRUE(o.Has("p", "food"));
  EXPECT_EQ(o.Get("p", "food").rules, std::vector<std::string>{"hvs.food"});
  EXPECT_THAT(EvidenceOf(o.Get("p", "food")), ElementsAre("Observation/i1", "Observation/i2"));
  // HVS rows form an HVS screening only: no AHC screening, so no "incomplete safety" flag.
  EXPECT_FALSE(o.Has("p", "interpersonal-safety-incomplete"));
  EXPECT_EQ(o.counts.screenings_counted, 1u);
}

TEST_F(StandaloneItemsTest, OnlyCountingStatusWithAnEffectiveDateAndNoPanel) {
  for (const char* st : {"preliminary", "entered-in-error", "cancelled"}) {
    EXPECT_FALSE(h.Run({Item("i", "88122-7", "LA28397-0", kAt, st)}).Has("p", "food")) << st;
  }
  for (const char* st : {"amended", "corrected"}) {
    EXPECT_TRUE(h.Run({Item("i", "88122-7", "LA28397-0", kAt, st)}).Has("p", "food")) << st;
  }
  EXPECT_FALSE(h.Run({Item("i", "88122-7", "LA28397-0", "")}).Has("p", "food"));
  // Listed by a panel that does not count: a member of it, never a standalone item.
  EXPECT_FALSE(h.Run({Panel("panel", "p", "88121-9", kAt, {"i"}, "entered-in-error"),
                      Item("i", "88122-7", "LA28397-0")})
                   .Has("p", "food"));
  // A newer entered-in-error version retracts the item.
  std::string v1 = Item("i", "88122-7", "LA28397-0");
  v1.insert(v1.size() - 1, R"(,"meta":{"versionId":"1"})");
  std::string v2 = Item("i", "88122-7", "LA28397-0", kAt, "entered-in-error");
  v2.insert(v2.size() - 1, R"(,"meta":{"versionId":"2"})");
  EXPECT_FALSE(h.Run({v1, v2}).Has("p", "food"));
}

// The current version's effective instant is the item's, whatever the older versions had and
// in whatever order the versions are read (the collector keeps it in the item's record).
TEST_F(StandaloneItemsTest, TheCurrentVersionsInstantIsTheItems) {
  auto version = [](const std::string& n, const std::string& effective) {
    std::string v = Item("i", "88122-7", "LA28397-0", effective);
    v.insert(v.size() - 1, R"(,"meta":{"versionId":")" + n + R"("})");
    return v;
  };
  const std::string v1 = version("1", "2024-01-01T10:00:00Z");
  const std::string v2 = version("2", "2024-03-01T10:00:00Z");
  const std::string v3 = version("3", "");
  for (const auto& lines : {std::vector<std::string>{v1, v2}, {v2, v1}}) {
    auto o = h.Run(lines);
    ASSERT_TRUE(o.Has("p", "food"));
    ASSERT_TRUE(o.Get("p", "food").screened_at.has_value());
    EXPECT_EQ(*o.Get("p", "food").screened_at,
              *fhir::ParseFhirDateTime("2024-03-01T10:00:00Z", fhir::TimeZone::Utc()));
  }
  // The current version has no effective instant: no longer a standalone item.
  EXPECT_FALSE(h.Run({v1, v3}).Has("p", "food"));
  EXPECT_FALSE(h.Run({v3, v2, v1}).Has("p", "food"));
  // An older version without one does not hide the current version's.
  EXPECT_TRUE(h.Run({v2, version("0", "")}).Has("p", "food"));
}

TEST_F(StandaloneItemsTest, OneScreeningPerInstantCompetingWithQrsAndPanels) {
  // Items of two instants are two screenings: the newer (negative) one wins.
  EXPECT_FALSE(h.Run({Item("old", "88122-7", "LA28397-0", "2024-01-01T10:00:00Z"),
                      Item("new1", "88122-7", "LA28398-8"), Item("new2", "88123-5", "LA28398-8")})
                   .Has("p", "food"));
  // A newer QR beats the items; newer items beat an older QR.
  EXPECT_FALSE(h.Run({Item("i", "88122-7", "LA28397-0", "2024-01-01T10:00:00Z"),
                      Qr("q", "p", kHvs, "2024-05-01", {{"/88122-7", {"LA28398-8"}}})})
                   .Has("p", "food"));
  EXPECT_TRUE(h.Run({Item("i", "88122-7", "LA28397-0"),
                     Qr("q", "p", kHvs, "2024-01-01", {{"/88122-7", {"LA28398-8"}}})})
                  .Has("p", "food"));
  // At an equal instant the QR wins (items are often extracted from it), whatever the ids.
  EXPECT_FALSE(h.Run({Item("zz", "88122-7", "LA28397-0"),
                      Qr("aa", "p", kHvs, kAt, {{"/88122-7", {"LA28398-8"}}})})
                   .Has("p", "food"));
  // A full AHC flowsheet at one instant is one AHC screening: HITS 5+5+5+declined is decided.
  auto o = h.Run({Item("h1", "95618-5", "LA6482-9"), Item("h2", "95617-7", "LA6482-9"),
                  Item("h3", "95616-9", "LA6482-9"), Item("h4", "95615-1", ""),
                  Item("f", "88122-7", "LA28398-8")});
  ASSERT_TRUE(o.Has("p", "interpersonal-safety"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "interpersonal-safety")),
              ElementsAre("Observation/h1", "Observation/h2", "Observation/h3"));
}

// Issue 14 item 4b through 4a: the HVS risk 88124-3 given alone as an Observation.
TEST_F(StandaloneItemsTest, HvsRiskAloneAsAnObservationFlagsFood) {
  auto obs = h.Run({PatientJson("p"),
                    Obs("risk", "p", "88124-3", "LA19952-3", {}, "final", "2024-05-01T10:00:00Z")});
  ASSERT_TRUE(obs.Has("p", "food"));
  EXPECT_EQ(obs.Get("p", "food").rules, std::vector<std::string>{"hvs.food-risk"});
  EXPECT_THAT(EvidenceOf(obs.Get("p", "food")), ElementsAre("Observation/risk"));
}

// Issue 14 item 3 through 4a: the HITS total 95614-4 as a standalone Observation, no item.
TEST_F(StandaloneItemsTest, HitsTotalAloneAsAnObservationDecides) {
  std::string total = Obs("t", "p", "95614-4", "", {}, "final", kAt);
  total.insert(total.size() - 1, R"(,"valueQuantity":{"value":13.0})");
  auto o = h.Run({PatientJson("p"), total});
  ASSERT_TRUE(o.Has("p", "interpersonal-safety"));
  EXPECT_THAT(EvidenceOf(o.Get("p", "interpersonal-safety")), ElementsAre("Observation/t"));
}

TEST(GroupStandaloneItemsTest, GroupsByPatientAndInstantThenByCoveringInstrument) {
  Harness h;
  const Catalog& c = *h.pipeline().catalog;
  auto code = [&](const char* s) { return c.codes().Find(s); };
  std::vector<StandaloneItem> items = {{1, 100, 10, code("88122-7")},
                                       {1, 100, 11, code("71802-3")},
                                       {1, 200, 12, code("88123-5")},
                                       {0, 100, 13, code("88122-7")}};
  auto groups = GroupStandaloneItems(c, items);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].patient, 0u);
  EXPECT_EQ(c.instruments()[groups[0].instrument].id, "hvs");
  // 88122-7 + 71802-3: AHC core asks both.
  EXPECT_EQ(c.instruments()[groups[1].instrument].id, "ahc-hrsn");
  EXPECT_THAT(groups[1].observations, ElementsAre(10u, 11u));
  EXPECT_EQ(groups[2].when, 200);
}

}  // namespace
}  // namespace sdoh::testing
