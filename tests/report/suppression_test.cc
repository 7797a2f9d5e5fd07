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
