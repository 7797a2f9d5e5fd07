// The report's numbers on hand-built patient rows (pure model, no I/O).
#include "plugin/report/report_model.h"

#include <stdexcept>
#include <tuple>

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

namespace sdoh::report {
namespace {

ReferralRow Referral(const std::string& need, ReferralStatus status) {
  ReferralRow r;
  r.need = need;
  r.status = status;
  return r;
}

// Issue 15 item 5: the funnel on hand-built rows. 40 screened patients (en), 10 of them
// positive for food; 8 referred: 2 open and stalled, 2 accepted (days 3, 5), 2 completed (days
// 4/10 and 6/20 to acceptance/completion), 1 rejected, 1 accepted then cancelled (day 7,
// bounced). One of the completed patients is positive for housing too, referred and open.
TEST(ReportFunnelTest, StagesMediansAndReasonsByHand) {
  std::vector<PatientRow> rows;
  for (int i = 0; i < 40; ++i) rows.push_back(Patient(true, i < 30 ? "en" : "es"));
  rows.push_back(Patient(false, "en"));  // not screened: outside the funnel
  rows.back().positive_needs.insert("food");
  rows.back().referrals.push_back(Referral("food", ReferralStatus::kOpen));
  for (int i = 0; i < 10; ++i) rows[i].positive_needs.insert("food");
  auto add = [&](int i, ReferralRow r) { rows[i].referrals.push_back(r); };
  for (int i : {0, 1}) {
    ReferralRow r = Referral("food", ReferralStatus::kOpen);
    r.stalled = true;
    add(i, r);
  }
  for (auto [i, d] : {std::pair{2, 3}, std::pair{3, 5}}) {
    ReferralRow r = Referral("food", ReferralStatus::kAccepted);
    r.reached_accepted = true;
    r.days_to_acceptance = d;
    add(i, r);
  }
  for (auto [i, a, c] : {std::tuple{4, 4, 10}, std::tuple{5, 6, 20}}) {
    ReferralRow r = Referral("food", ReferralStatus::kCompleted);
    r.reached_accepted = true;
    r.days_to_acceptance = a;
    r.days_to_completion = c;
    add(i, r);
  }
  ReferralRow rejected = Referral("food", ReferralStatus::kRejected);
  rejected.bounced = true;
  rejected.bounce_status = "rejected";
  rejected.bounce_reason = "  Could not\n reach   the patient ";
  add(6, rejected);
  ReferralRow cancelled = Referral("food", ReferralStatus::kCancelled);
  cancelled.reached_accepted = true;
  cancelled.days_to_acceptance = 7;
  cancelled.bounced = true;
  cancelled.bounce_status = "cancelled";
  cancelled.bounce_reason = "Could not reach the patient";
  add(7, cancelled);
  rows[4].positive_needs.insert("housing-instability");
  add(4, Referral("housing-instability", ReferralStatus::kOpen));
  // A referral for a need the patient is not positive for does not enter the funnel.
  add(20, Referral("housing-instability", ReferralStatus::kCompleted));

  ReportOptions o = Options(1);
  o.referrals = true;
  Report r = BuildReport(rows, o);
  const ReportTable& f = Table(r, "funnel");
  // Screened, positive, referred, accepted, completed, bounced, stalled.
  EXPECT_EQ(Row(f, "food"), (std::vector<int64_t>{40, 10, 8, 5, 2, 2, 2}));
  EXPECT_EQ(Row(f, "housing-instability"), (std::vector<int64_t>{40, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(Row(f, "Any need"), (std::vector<int64_t>{40, 10, 8, 5, 2, 2, 2}));
  // Medians: acceptance over 3, 5, 4, 6, 7 → 5; completion over 10, 20 → 15.
  const size_t food = 0;
  EXPECT_EQ(MedianOf(f, 0, food), 5.0);
  EXPECT_EQ(MedianOf(f, 1, food), 15.0);
  EXPECT_EQ(MedianOf(f, 0, 1), std::nullopt);  // housing: none accepted
  // Completed of referred.
  ASSERT_TRUE(RateOf(f, food).has_value());
  EXPECT_DOUBLE_EQ(RateOf(f, food)->rate, 2.0 / 8.0);
  // By language: all ten positive patients are "en".
  EXPECT_EQ(Row(Table(r, "funnel-language"), "en"), (std::vector<int64_t>{10, 8, 5, 2, 2, 2}));
  EXPECT_EQ(Row(Table(r, "funnel-language"), "es"), (std::vector<int64_t>{-99}));
  // Bounced reasons: the whitespace-collapsed reason holds both; rejected, failed, cancelled,
  // bounced, all bounced.
  const ReportTable& b = Table(r, "bounced-reasons");
  EXPECT_EQ(Row(b, "Could not reach the patient"), (std::vector<int64_t>{1, 0, 1, 2, 2}));
  EXPECT_EQ(Row(b, "All bounced referrals"), (std::vector<int64_t>{1, 0, 1, 2, 2}));

  // With min_cell 11 the rare reason is pooled (and its counts suppressed); the positive
  // count (10) is suppressed in the funnel as in the positive table.
  o.min_cell = 11;
  Report s = BuildReport(rows, o);
  const ReportTable& sb = Table(s, "bounced-reasons");
  EXPECT_EQ(Row(sb, "Could not reach the patient"), (std::vector<int64_t>{-99}));
  EXPECT_EQ(Row(sb, "Other reasons (each fewer than 11)"),
            (std::vector<int64_t>{-1, 0, -1, -1, -1}));
  EXPECT_EQ(Row(Table(s, "funnel"), "food")[1], -1);
  EXPECT_EQ(Row(Table(s, "positive"), "food")[0], -1);
  EXPECT_EQ(MedianOf(Table(s, "funnel"), 0, food), std::nullopt);  // accepted 5: suppressed
}

TEST(ReportFunnelTest, NoFunnelWithoutAServerAndTheOutreachBacklogAlways) {
  std::vector<PatientRow> rows;
  for (int i = 0; i < 20; ++i) rows.push_back(Patient(i >= 5, "en"));
  for (int i = 0; i < 5; ++i) rows[i].outreach_reason = i < 3 ? "never-screened" : "overdue";
  rows.push_back(Patient(false, "en", /*active_living=*/false));
  rows.back().outreach_reason = "never-screened";  // not counted: not active and living
  ReportOptions o = Options(1);
  o.outreach_reasons = {"never-screened-prior-positive", "incomplete-safety", "overdue",
                        "declined-items", "never-screened"};
  Report r = BuildReport(rows, o);
  for (const ReportTable& t : r.tables) EXPECT_EQ(t.id.rfind("funnel", 0), std::string::npos);
  const ReportTable& t = Table(r, "outreach");
  EXPECT_EQ(Row(t, "never-screened"), (std::vector<int64_t>{3, 20}));
  EXPECT_EQ(Row(t, "overdue"), (std::vector<int64_t>{2, 20}));
  EXPECT_EQ(Row(t, "incomplete-safety"), (std::vector<int64_t>{0, 20}));
  EXPECT_EQ(Row(t, "All due"), (std::vector<int64_t>{5, 20}));
  EXPECT_EQ(t.rows.size(), 6u);
}

}  // namespace
}  // namespace sdoh::report
