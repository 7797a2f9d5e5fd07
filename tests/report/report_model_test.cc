// The report's numbers on hand-built patient rows (pure model, no I/O).
#include "plugin/report/report_model.h"

#include <stdexcept>

#include <gtest/gtest.h>

namespace sdoh::report {
namespace {

const ReportTable& Table(const Report& r, const std::string& id) {
  for (const ReportTable& t : r.tables) {
    if (t.id == id) return t;
  }
  throw std::runtime_error("no table " + id);
}

std::vector<int64_t> Row(const ReportTable& t, const std::string& label) {
  for (size_t i = 0; i < t.rows.size(); ++i) {
    if (t.rows[i] != label) continue;
    std::vector<int64_t> v;
    for (const Cell& c : t.counts.cells[i]) v.push_back(c.suppressed() ? -1 : c.value);
    return v;
  }
  return {-99};
}

PatientRow Patient(bool screened, const std::string& language, bool active_living = true) {
  PatientRow p;
  p.screened = screened;
  p.active_living = active_living;
  p.demographics.language = language;
  return p;
}

ReportOptions Options(int64_t min_cell) {
  ReportOptions o;
  o.from = "2024-01-01";
  o.to = "2024-12-31";
  o.period_end = {2024, 12, 31};
  o.min_cell = min_cell;
  o.needs = {"food", "housing-instability"};
  return o;
}

TEST(ReportModelTest, CoverageCountsOnlyActiveLivingPatients) {
  std::vector<PatientRow> rows;
  for (int i = 0; i < 30; ++i) rows.push_back(Patient(i < 20, "en"));
  for (int i = 0; i < 15; ++i) rows.push_back(Patient(i < 3, "es"));
  rows.push_back(Patient(true, "en", /*active_living=*/false));
  rows.push_back(Patient(false, "en", false));
  for (int i = 0; i < 12; ++i) rows[i].positive_needs.insert("food");
  Report r = BuildReport(rows, Options(1));
  // 45 active, living patients; 23 screened in the period.
  EXPECT_EQ(Row(Table(r, "coverage"), "All patients"), (std::vector<int64_t>{23, 22, 45}));
  EXPECT_EQ(Row(Table(r, "language"), "en"), (std::vector<int64_t>{20, 10, 30}));
  EXPECT_EQ(Row(Table(r, "language"), "es"), (std::vector<int64_t>{3, 12, 15}));
  EXPECT_EQ(Row(Table(r, "positive"), "food"), (std::vector<int64_t>{12, 11, 23}));
  EXPECT_EQ(Row(Table(r, "positive"), "housing-instability"), (std::vector<int64_t>{0, 23, 23}));
  const ReportTable& lang = Table(r, "language");
  auto rate = RateOf(lang, 0);
  ASSERT_TRUE(rate.has_value());
  EXPECT_NEAR(rate->rate, 20.0 / 30.0, 1e-12);
  EXPECT_FALSE(TooFewToCompare(lang, 0, 30));  // en: 30 patients
  EXPECT_TRUE(TooFewToCompare(lang, 1, 30));   // es: 15 patients
}

TEST(ReportModelTest, SmallCellsAndTheirComplementsAreSuppressed) {
  std::vector<PatientRow> rows;
  for (int i = 0; i < 40; ++i) rows.push_back(Patient(i < 25, "en"));
  for (int i = 0; i < 20; ++i) rows.push_back(Patient(i < 4, "es"));  // 4 screened: small
  for (int i = 0; i < 20; ++i) rows.push_back(Patient(i < 14, "vi"));
  Report r = BuildReport(rows, Options(11));
  const ReportTable& lang = Table(r, "language");
  // es screened 4 → "<11"; its row and column need a second suppressed count each.
  EXPECT_EQ(lang.counts.cells[1][0].suppression, Suppression::kSmallCell);
  int suppressed_in_screened_column = 0;
  for (size_t i = 0; i < lang.rows.size(); ++i) {
    suppressed_in_screened_column += lang.counts.cells[i][0].suppressed() ? 1 : 0;
  }
  EXPECT_GE(suppressed_in_screened_column, 2);
  EXPECT_FALSE(RateOf(lang, 1).has_value());  // the rate of a suppressed count is suppressed
}

TEST(ReportModelTest, AgeBandAtThePeriodsEnd) {
  const CivilDate end{2024, 12, 31};
  EXPECT_EQ(AgeBand("2006-12-31", end), "18-44");  // 18 that day
  EXPECT_EQ(AgeBand("2007-01-01", end), "0-17");   // 17
  EXPECT_EQ(AgeBand("1980-01-01", end), "18-44");  // 44
  EXPECT_EQ(AgeBand("1979-12-31", end), "45-64");  // 45 that day
  EXPECT_EQ(AgeBand("1960-01-01", end), "45-64");  // 64
  EXPECT_EQ(AgeBand("1959-12-31", end), "65+");
  EXPECT_EQ(AgeBand("", end), "unknown");
  EXPECT_EQ(AgeBand("2030-01-01", end), "unknown");
}

}  // namespace
}  // namespace sdoh::report
