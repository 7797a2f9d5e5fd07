// Suppression cannot be reversed: no suppressed count follows from its row and column totals,
// from the same count in another table, or from any combination of what is published.
#include "plugin/report/suppression.h"

#include <random>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "plugin/report/report_model.h"
#include "plugin/report/report_writers.h"
#include "tests/report/report_test_support.h"

namespace sdoh::report {
namespace {

TEST(SuppressionTest, SmallCellGetsARowAndColumnComplement) {
  // 2 strata × (a, b) with margins.
  CountTable t;
  t.cells = {{Cell{3, Suppression::kNone, ""}, Cell{40, Suppression::kNone, ""},
              Cell{43, Suppression::kNone, ""}},
             {Cell{30, Suppression::kNone, ""}, Cell{50, Suppression::kNone, ""},
              Cell{80, Suppression::kNone, ""}},
             {Cell{33, Suppression::kNone, ""}, Cell{90, Suppression::kNone, ""},
              Cell{123, Suppression::kNone, ""}}};
  t.relations = {{{{0, 0}, {0, 1}}, {0, 2}}, {{{1, 0}, {1, 1}}, {1, 2}},
                 {{{2, 0}, {2, 1}}, {2, 2}}, {{{0, 0}, {1, 0}}, {2, 0}},
                 {{{0, 1}, {1, 1}}, {2, 1}}, {{{0, 2}, {1, 2}}, {2, 2}}};
  Suppress({&t}, 11);
  EXPECT_EQ(t.cells[0][0].suppression, Suppression::kSmallCell);
  EXPECT_EQ(t.cells[0][1].suppression, Suppression::kComplementary);  // same row
  EXPECT_EQ(t.cells[1][0].suppression, Suppression::kComplementary);  // same column
  EXPECT_EQ(t.cells[1][1].suppression, Suppression::kComplementary);  // closes the rectangle
  EXPECT_FALSE(t.cells[2][2].suppressed());
}

TEST(SuppressionTest, ZeroIsNotASmallCell) {
  CountTable t;
  t.cells = {{Cell{0, Suppression::kNone, ""}, Cell{12, Suppression::kNone, ""},
              Cell{12, Suppression::kNone, ""}}};
  t.relations = {{{{0, 0}, {0, 1}}, {0, 2}}};
  Suppress({&t}, 11);
  EXPECT_FALSE(t.cells[0][0].suppressed());
  EXPECT_FALSE(t.cells[0][1].suppressed());
}

TEST(SuppressionTest, SharedCountIsSuppressedInEveryTable) {
  CountTable a, b;
  a.cells = {{Cell{5, Suppression::kNone, "x"}, Cell{30, Suppression::kNone, ""},
              Cell{35, Suppression::kNone, ""}}};
  a.relations = {{{{0, 0}, {0, 1}}, {0, 2}}};
  b.cells = {{Cell{2, Suppression::kNone, ""}, Cell{3, Suppression::kNone, ""},
              Cell{5, Suppression::kNone, "x"}}};
  b.relations = {{{{0, 0}, {0, 1}}, {0, 2}}};
  Suppress({&a, &b}, 4);  // only 1..3 are small: 5 is hidden because b's 2 and 3 add up to it
  EXPECT_TRUE(b.cells[0][0].suppressed());
  EXPECT_TRUE(b.cells[0][1].suppressed());
  EXPECT_FALSE(b.cells[0][2].suppressed());  // two unknowns in b's row already
  EXPECT_FALSE(a.cells[0][0].suppressed());
}

PatientRow Random(std::mt19937& rng) {
  static const char* kLang[] = {"en", "es", "vi", "ar", "unknown"};
  static const char* kRace[] = {"White", "Asian", "Black or African American", "Unknown",
                                "Two or more races"};
  static const char* kZip[] = {"021", "022", "100", "unknown"};
  PatientRow p;
  p.active_living = rng() % 13 != 0;
  p.screened = rng() % 4 != 0;
  p.demographics.language = kLang[rng() % (rng() % 3 == 0 ? 5 : 2)];
  p.demographics.race = kRace[rng() % 5];
  p.demographics.ethnicity = rng() % 5 == 0 ? "Hispanic or Latino" : "Not Hispanic or Latino";
  p.demographics.gender = rng() % 2 ? "female" : "male";
  p.demographics.birth_date = std::to_string(1930 + rng() % 94) + "-06-15";
  p.demographics.zip3 = kZip[rng() % 4];
  p.insurance = rng() % 3 == 0 ? "not recorded" : "LA31994-9";
  if (rng() % 3 == 0) p.positive_needs.insert("food");
  if (rng() % 9 == 0) p.positive_needs.insert("housing-instability");
  p.interpreter_need = p.demographics.language != "en" && rng() % 2 == 0;
  return p;
}

// Many random populations, from tiny to a few hundred patients: every suppressed count in
// report.json stays undetermined given everything else published.
TEST(SuppressionTest, NoSuppressedCountCanBeRecoveredFromThePublishedTables) {
  std::mt19937 rng(8);
  int reports_with_suppression = 0;
  for (int round = 0; round < 60; ++round) {
    std::vector<PatientRow> rows;
    const int n = 5 + static_cast<int>(rng() % 400);
    for (int i = 0; i < n; ++i) rows.push_back(Random(rng));
    ReportOptions o;
    o.from = "2024-01-01";
    o.to = "2024-12-31";
    o.period_end = {2024, 12, 31};
    o.needs = {"food", "housing-instability"};
    Report r = BuildReport(rows, o);
    rapidjson::Document doc;
    doc.Parse(RenderJson(r).c_str());
    ASSERT_FALSE(doc.HasParseError());
    int unknowns = 0;
    std::vector<std::string> recovered = testing::RecoverableCells(doc, &unknowns);
    EXPECT_TRUE(recovered.empty()) << "round " << round << ": " << recovered.front();
    if (unknowns > 0) ++reports_with_suppression;
  }
  EXPECT_GT(reports_with_suppression, 30);  // the attack had something to attack
}

PatientRow WithReferrals(PatientRow p, std::mt19937& rng) {
  static const char* kNeeds[] = {"food", "housing-instability", "interpreter"};
  for (unsigned k = rng() % 3; k > 0; --k) {
    ReferralRow r;
    r.need = kNeeds[rng() % 3];
    const unsigned s = rng() % 10;  // mostly open
    r.status = s < 5   ? ReferralStatus::kOpen
               : s < 7 ? ReferralStatus::kAccepted
               : s < 8 ? ReferralStatus::kCompleted
               : s < 9 ? ReferralStatus::kRejected
                       : ReferralStatus::kCancelled;
    r.days_open = static_cast<int64_t>(rng() % 200);
    p.referrals.push_back(r);
  }
  p.interpreter_referral = p.interpreter_need && rng() % 3 != 0;
  return p;
}

ReportOptions ReferralOptions() {
  ReportOptions o;
  o.from = "2024-01-01";
  o.to = "2024-12-31";
  o.period_end = {2024, 12, 31};
  o.needs = {"food", "housing-instability", "interpreter"};
  o.referrals = true;
  o.referrals_as_of = "2025-01-01T00:00:00Z";
  return o;
}

// With the referral tables (a server source): six columns per row, margins shared by eight
// tables, interpreter totals shared by two; still nothing can be solved back.
TEST(SuppressionTest, NoSuppressedReferralCountCanBeRecovered) {
  std::mt19937 rng(11);
  int reports_with_suppression = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<PatientRow> rows;
    const int n = 5 + static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i) rows.push_back(WithReferrals(Random(rng), rng));
    Report r = BuildReport(rows, ReferralOptions());
    rapidjson::Document doc;
    doc.Parse(RenderJson(r).c_str());
    ASSERT_FALSE(doc.HasParseError());
    int unknowns = 0;
    std::vector<std::string> recovered = testing::RecoverableCells(doc, &unknowns);
    EXPECT_TRUE(recovered.empty()) << "round " << round << ": " << recovered.front();
    if (unknowns > 0) ++reports_with_suppression;
    // A median is shown only with its row's published, non-zero total.
    for (const auto& t : doc["tables"].GetArray()) {
      for (const auto& row : t["rows"].GetArray()) {
        if (!row.HasMember("median_days_open") || row["median_days_open"].IsNull()) continue;
        const auto& total = row["counts"][row["counts"].Size() - 1];
        EXPECT_TRUE(total.IsInt64() && total.GetInt64() > 0) << t["id"].GetString();
      }
    }
  }
  EXPECT_GT(reports_with_suppression, 20);
}

// Found by the attack on the samples' referrals by language: every row of small strata holds
// one non-zero status except one, so (sum of their totals) - (sum of their open counts) gave
// that row's hidden "cancelled" count, although each row and column had two hidden cells.
TEST(SuppressionTest, RowsAndColumnsTogetherCannotPinAHiddenCount) {
  struct Stratum {
    const char* language;
    std::vector<ReferralStatus> statuses;
  };
  using S = ReferralStatus;
  auto n = [](int k, S s) { return std::vector<S>(static_cast<size_t>(k), s); };
  auto cat = [](std::vector<std::vector<S>> parts) {
    std::vector<S> out;
    for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  const std::vector<Stratum> strata = {
      {"ar", n(1, S::kOpen)},
      {"en", cat({n(14, S::kOpen), n(2, S::kAccepted), n(3, S::kCompleted), n(1, S::kRejected)})},
      {"es", cat({n(2, S::kOpen), n(1, S::kCancelled)})},
      {"es-MX", n(1, S::kOpen)},
      {"unknown", cat({n(16, S::kOpen), n(2, S::kAccepted), n(2, S::kCompleted), n(1, S::kRejected),
                       n(1, S::kCancelled)})},
      {"vi", n(1, S::kOpen)},
      {"zh", n(1, S::kOpen)},
  };
  std::vector<PatientRow> rows;
  for (const Stratum& st : strata) {
    for (S status : st.statuses) {
      PatientRow p;
      p.demographics.language = st.language;
      ReferralRow r;
      r.need = "food";
      r.status = status;
      r.days_open = 10;
      p.referrals.push_back(r);
      rows.push_back(p);
    }
  }
  Report r = BuildReport(rows, ReferralOptions());
  rapidjson::Document doc;
  doc.Parse(RenderJson(r).c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(testing::RecoverableCells(doc), std::vector<std::string>{});
  EXPECT_EQ(testing::Counts(doc, "referrals-language", "es")[4], "<11");
}

// The attack itself works: with the complementary suppression removed it recovers cells.
TEST(SuppressionTest, TheAttackRecoversCellsWithoutComplementarySuppression) {
  std::vector<PatientRow> rows;
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) rows.push_back(Random(rng));
  ReportOptions o;
  o.from = "2024-01-01";
  o.to = "2024-12-31";
  o.period_end = {2024, 12, 31};
  o.needs = {"food"};
  Report r = BuildReport(rows, o);
  for (ReportTable& t : r.tables) {
    for (auto& row : t.counts.cells) {
      for (Cell& c : row) {
        if (c.suppression == Suppression::kComplementary) c.suppression = Suppression::kNone;
      }
    }
  }
  rapidjson::Document doc;
  doc.Parse(RenderJson(r).c_str());
  EXPECT_FALSE(testing::RecoverableCells(doc).empty());
}

}  // namespace
}  // namespace sdoh::report
