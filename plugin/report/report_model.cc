#include "plugin/report/report_model.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

#include "plugin/report/funnel.h"

namespace sdoh::report {

namespace {

constexpr const char* kAll = "All patients";

// The sums of a table whose rows are strata then a total row (the last), and whose columns are
// a split and its total: 0 + 1 = 2 in every row, and each column's strata add up to the total
// row. The suppression check solves them (a hidden count must not be derivable).
void AddSplitRelations(ReportTable& t, size_t strata) {
  for (size_t r = 0; r <= strata; ++r) t.counts.relations.push_back({{{r, 0}, {r, 1}}, {r, 2}});
  for (size_t c = 0; c < 3; ++c) {
    Relation rel;
    for (size_t r = 0; r < strata; ++r) rel.parts.push_back({r, c});
    rel.total = {strata, c};
    t.counts.relations.push_back(rel);
  }
}

// A stratified table: rows = strata + the "All patients" margin; columns = screened, not
// screened, patients. Relations: each row sums; each column over the strata sums to the margin.
// The margin's counts are the overall ones (shared keys), published in several tables.
ReportTable StrataTable(const std::string& id, const std::string& title,
                        const std::string& row_header, const std::vector<PatientRow>& patients,
                        const std::function<std::string(const PatientRow&)>& stratum,
                        const std::vector<std::string>& order = {}) {
  std::map<std::string, std::pair<int64_t, int64_t>> counts;  // stratum → (screened, not)
  for (const PatientRow& p : patients) {
    if (!p.active_living) continue;
    auto& c = counts[stratum(p)];
    (p.screened ? c.first : c.second)++;
  }
  ReportTable t;
  t.id = id;
  t.title = title;
  t.row_header = row_header;
  t.caption = "Screening coverage by " + row_header +
              ": active, living patients screened in the period, of all active, living patients";
  t.columns = {"Screened", "Not screened", "Patients"};
  t.rows = RowOrder(order, counts);
  int64_t screened = 0, not_screened = 0;
  for (const std::string& r : t.rows) {
    auto [s, u] = counts[r];
    screened += s;
    not_screened += u;
    t.counts.cells.push_back({Count(s), Count(u), Count(s + u)});
  }
  const size_t strata = t.rows.size();
  t.rows.push_back(kAll);
  t.counts.cells.push_back({Count(screened, "screened"), Count(not_screened, "not-screened"),
                            Count(screened + not_screened, "patients")});
  AddSplitRelations(t, strata);
  t.rate_numerator = 0;
  t.rate_denominator = 2;
  t.rate_label = "Coverage";
  return t;
}

// Referral status counts: rows = `labels` in order of first use (after `order`) + the "All
// referrals" margin; columns = the five statuses and their total; the median of days open per
// row. Each referral is in one row, so columns sum to the margin, whose counts are shared with
// every other referral table's margin.
// Patients with an interpreter need, by preferred language: column 0 those `split` holds for,
// column 1 the rest, column 2 the need; a last row over every language.
ReportTable InterpreterTable(ReportTable t, const std::vector<PatientRow>& patients,
                             const std::function<bool(const PatientRow&)>& split) {
  std::map<std::string, std::pair<int64_t, int64_t>> by_lang;
  for (const PatientRow& p : patients) {
    if (!p.interpreter_need) continue;
    auto& c = by_lang[p.demographics.language];
    (split(p) ? c.first : c.second)++;
  }
  int64_t yes = 0, no = 0;
  for (const auto& [lang, c] : by_lang) {
    t.rows.push_back(lang);
    t.counts.cells.push_back(
        {Count(c.first), Count(c.second), Count(c.first + c.second, "interpreter-need-" + lang)});
    yes += c.first;
    no += c.second;
  }
  const size_t langs = t.rows.size();
  t.rows.push_back(kAll);
  t.counts.cells.push_back({Count(yes), Count(no), Count(yes + no, "interpreter-need")});
  AddSplitRelations(t, langs);
  t.rate_numerator = 0;
  t.rate_denominator = 2;
  t.rate_label = "Referred";
  return t;
}

ReportTable ReferralTable(const std::string& id, const std::string& title,
                          const std::string& row_header,
                          const std::vector<std::pair<std::string, const ReferralRow*>>& referrals,
                          const std::vector<std::string>& order) {
  constexpr size_t kStatuses = 5;
  std::map<std::string, std::vector<const ReferralRow*>> by_row;
  for (const auto& [label, r] : referrals) by_row[label].push_back(r);
  ReportTable t;
  t.id = id;
  t.title = title;
  t.row_header = row_header;
  t.caption = "Referrals sdoh-bridge made (ServiceRequests authored in the period) by " +
              row_header +
              ", by the status of their Task (else of the ServiceRequest) on the server; days "
              "open run from authoring to the last change of a closed referral, or to the "
              "report's as-of time";
  t.columns = {"Open",     "Accepted or in progress", "Completed",
               "Rejected", "Cancelled or revoked",    "Referrals"};
  t.rows = RowOrder(order, by_row);
  MedianColumn open{"median_days_open", "Median days open", kStatuses, {}};
  std::vector<int64_t> totals(kStatuses, 0);
  std::vector<int64_t> all_days;
  for (const std::string& row : t.rows) {
    std::vector<int64_t> n(kStatuses, 0);
    std::vector<int64_t> days;
    for (const ReferralRow* r : by_row[row]) {
      ++n[static_cast<size_t>(r->status)];
      days.push_back(r->days_open);
    }
    std::vector<Cell> cells;
    int64_t sum = 0;
    for (size_t c = 0; c < kStatuses; ++c) {
      cells.push_back(Count(n[c]));
      totals[c] += n[c];
      sum += n[c];
    }
    cells.push_back(Count(sum));
    t.counts.cells.push_back(std::move(cells));
    open.values.push_back(Median(days));
    all_days.insert(all_days.end(), days.begin(), days.end());
  }
  const size_t strata = t.rows.size();
  t.rows.push_back("All referrals");
  std::vector<Cell> margin;
  int64_t sum = 0;
  for (size_t c = 0; c < kStatuses; ++c) {
    margin.push_back(Count(totals[c], "referrals-" + std::to_string(c)));
    sum += totals[c];
  }
  margin.push_back(Count(sum, "referrals"));
  t.counts.cells.push_back(std::move(margin));
  open.values.push_back(Median(all_days));
  t.medians.push_back(std::move(open));
  for (size_t r = 0; r <= strata; ++r) {
    Relation rel;
    for (size_t c = 0; c < kStatuses; ++c) rel.parts.push_back({r, c});
    rel.total = {r, kStatuses};
    t.counts.relations.push_back(rel);
  }
  for (size_t c = 0; c <= kStatuses; ++c) {
    Relation rel;
    for (size_t r = 0; r < strata; ++r) rel.parts.push_back({r, c});
    rel.total = {strata, c};
    t.counts.relations.push_back(rel);
  }
  t.rate_numerator = 2;
  t.rate_denominator = kStatuses;
  t.rate_label = "Share completed";
  return t;
}

}  // namespace

std::optional<double> Median(std::vector<int64_t> days) {
  if (days.empty()) return std::nullopt;
  std::sort(days.begin(), days.end());
  const size_t n = days.size();
  return n % 2 == 1 ? static_cast<double>(days[n / 2])
                    : (static_cast<double>(days[n / 2 - 1]) + static_cast<double>(days[n / 2])) / 2;
}

std::optional<double> MedianOf(const ReportTable& t, size_t m, size_t row) {
  if (m >= t.medians.size() || row >= t.medians[m].values.size()) return std::nullopt;
  const Cell& gate = t.counts.cells[row][t.medians[m].count_column];
  if (gate.suppressed() || gate.value <= 0) return std::nullopt;
  return t.medians[m].values[row];
}

std::optional<RowRate> RateOf(const ReportTable& t, size_t row) {
  const Cell& num = t.counts.cells[row][t.rate_numerator];
  const Cell& den = t.counts.cells[row][t.rate_denominator];
  if (num.suppressed() || den.suppressed() || den.value <= 0) return std::nullopt;
  return RowRate{static_cast<double>(num.value) / static_cast<double>(den.value),
                 WilsonInterval(num.value, den.value)};
}

bool TooFewToCompare(const ReportTable& t, size_t row, int64_t min_compare) {
  const Cell& den = t.counts.cells[row][t.rate_denominator];
  return !den.suppressed() && den.value < min_compare;
}

std::string AgeBand(const std::string& birth_date, const CivilDate& at) {
  int y = 0, m = 1, d = 1;
  if (birth_date.size() < 4 || std::sscanf(birth_date.c_str(), "%4d", &y) != 1) return "unknown";
  if (birth_date.size() >= 7) std::sscanf(birth_date.c_str() + 5, "%2d", &m);
  if (birth_date.size() >= 10) std::sscanf(birth_date.c_str() + 8, "%2d", &d);
  int age = at.year - y;
  if (at.month < m || (at.month == m && at.day < d)) --age;
  if (age < 0) return "unknown";
  if (age < 18) return "0-17";
  if (age < 45) return "18-44";
  if (age < 65) return "45-64";
  return "65+";
}

std::vector<Dimension> Dimensions(const CivilDate& end) {
  return {
      {"language",
       "preferred language",
       "preferred language",
       [](const PatientRow& p) { return p.demographics.language; },
       {}},
      {"race", "race", "race (OMB)", [](const PatientRow& p) { return p.demographics.race; }, {}},
      {"ethnicity",
       "ethnicity",
       "ethnicity (OMB)",
       [](const PatientRow& p) { return p.demographics.ethnicity; },
       {}},
      {"gender",
       "administrative gender",
       "administrative gender",
       [](const PatientRow& p) { return p.demographics.gender; },
       {}},
      {"age",
       "age band at the period's end",
       "age band",
       [end](const PatientRow& p) { return AgeBand(p.demographics.birth_date, end); },
       {"0-17", "18-44", "45-64", "65+", "unknown"}},
      {"zip3", "ZIP3", "ZIP3", [](const PatientRow& p) { return p.demographics.zip3; }, {}},
      {"insurance",
       "insurance (PRAPARE 76437-3)",
       "insurance",
       [](const PatientRow& p) { return p.insurance; },
       {}},
  };
}

namespace {

// With a server source: referral status by need and by each stratum, and interpreter need vs
// an interpreter referral on the server (the same patients as the interpreter table, whose
// per-language totals it shares).
void AddReferralTables(Report& report, const std::vector<PatientRow>& patients) {
  const ReportOptions& options = report.options;
  using Labelled = std::vector<std::pair<std::string, const ReferralRow*>>;
  Labelled by_need;
  for (const PatientRow& p : patients) {
    for (const ReferralRow& r : p.referrals) by_need.emplace_back(r.need, &r);
  }
  report.tables.push_back(
      ReferralTable("referrals", "Referral status per need", "need", by_need, options.needs));
  for (const Dimension& d : Dimensions(options.period_end)) {
    Labelled rows;
    for (const PatientRow& p : patients) {
      const std::string label = d.stratum(p);
      for (const ReferralRow& r : p.referrals) rows.emplace_back(label, &r);
    }
    report.tables.push_back(
        ReferralTable("referrals-" + d.key, "Referral status by " + d.by, d.header, rows, d.order));
  }

  ReportTable t;
  t.id = "interpreter-referrals";
  t.title = "Interpreter need and interpreter referral on the server";
  t.caption =
      "Patients with an interpreter need flag, and those of them with an interpreter "
      "ServiceRequest from sdoh-bridge on the server (not revoked or entered in error, any "
      "date), by preferred language";
  t.row_header = "preferred language";
  t.columns = {"Interpreter referral", "No interpreter referral", "Interpreter need"};
  report.tables.push_back(InterpreterTable(
      std::move(t), patients, [](const PatientRow& p) { return p.interpreter_referral; }));
}

}  // namespace

Report BuildReport(const std::vector<PatientRow>& patients, const ReportOptions& options) {
  Report report;
  report.options = options;
  report.denominator =
      "All active, living patients in the source (Patient.active not false, no deceased "
      "date or flag), whether or not they were screened";

  int64_t screened = 0, not_screened = 0;
  for (const PatientRow& p : patients) {
    if (p.active_living) (p.screened ? screened : not_screened)++;
  }

  ReportTable coverage;
  coverage.id = "coverage";
  coverage.title = "Screening coverage";
  coverage.caption =
      "Active, living patients with a counted screening dated in the period, of all active, "
      "living patients";
  coverage.row_header = "Population";
  coverage.rows = {kAll};
  coverage.columns = {"Screened", "Not screened", "Patients"};
  coverage.counts.cells = {{Count(screened, "screened"), Count(not_screened, "not-screened"),
                            Count(screened + not_screened, "patients")}};
  coverage.counts.relations = {{{{0, 0}, {0, 1}}, {0, 2}}};
  coverage.rate_numerator = 0;
  coverage.rate_denominator = 2;
  coverage.rate_label = "Coverage";
  report.tables.push_back(coverage);

  // Positive rate per need, among patients screened in the period. Needs overlap, so only
  // rows sum (positive + not positive = screened).
  ReportTable positive;
  positive.id = "positive";
  positive.title = "Positive rate per need";
  positive.caption =
      "Active, living patients screened in the period whose in-period screenings (or Patient "
      "data) flag the need, of all active, living patients screened in the period";
  positive.row_header = "Need";
  positive.columns = {"Positive", "Not positive", "Screened"};
  for (size_t i = 0; i < options.needs.size(); ++i) {
    const std::string& need = options.needs[i];
    int64_t pos = 0;
    for (const PatientRow& p : patients) {
      if (p.active_living && p.screened && p.positive_needs.count(need) != 0) ++pos;
    }
    positive.rows.push_back(need);
    // The positive count is published again in the funnel (shared key).
    positive.counts.cells.push_back(
        {Count(pos, "positive-" + need), Count(screened - pos), Count(screened, "screened")});
    positive.counts.relations.push_back({{{i, 0}, {i, 1}}, {i, 2}});
  }
  positive.rate_numerator = 0;
  positive.rate_denominator = 2;
  positive.rate_label = "Positive rate";
  report.tables.push_back(positive);

  const CivilDate end = options.period_end;
  report.tables.push_back(StrataTable("language", "Coverage by preferred language",
                                      "preferred language", patients,
                                      [](const PatientRow& p) { return p.demographics.language; }));
  report.tables.push_back(StrataTable("race", "Coverage by race", "race (OMB)", patients,
                                      [](const PatientRow& p) { return p.demographics.race; }));
  report.tables.push_back(
      StrataTable("ethnicity", "Coverage by ethnicity", "ethnicity (OMB)", patients,
                  [](const PatientRow& p) { return p.demographics.ethnicity; }));
  report.tables.push_back(StrataTable("gender", "Coverage by administrative gender",
                                      "administrative gender", patients,
                                      [](const PatientRow& p) { return p.demographics.gender; }));
  report.tables.push_back(
      StrataTable("age", "Coverage by age band at the period's end", "age band", patients,
                  [end](const PatientRow& p) { return AgeBand(p.demographics.birth_date, end); },
                  {"0-17", "18-44", "45-64", "65+", "unknown"}));
  report.tables.push_back(StrataTable("zip3", "Coverage by ZIP3", "ZIP3", patients,
                                      [](const PatientRow& p) { return p.demographics.zip3; }));
  report.tables.push_back(StrataTable("insurance", "Coverage by insurance (PRAPARE 76437-3)",
                                      "insurance", patients,
                                      [](const PatientRow& p) { return p.insurance; }));

  // Interpreter need vs referral, by preferred language, over every patient with a Patient
  // resource: a referral is planned only for active, living patients.
  ReportTable interp;
  interp.id = "interpreter";
  interp.title = "Interpreter need and interpreter referral";
  interp.caption =
      "Patients with an interpreter need flag, and those of them a referral is planned for "
      "(active, living), by preferred language";
  interp.row_header = "preferred language";
  interp.columns = {"Referral planned", "Need, no referral (inactive or deceased)",
                    "Interpreter need"};
  report.tables.push_back(InterpreterTable(std::move(interp), patients,
                                           [](const PatientRow& p) { return p.active_living; }));

  if (options.referrals) {
    AddReferralTables(report, patients);
    AddFunnelTables(report, patients);
  }
  AddOutreachTable(report, patients);

  std::vector<CountTable*> all;
  for (ReportTable& t : report.tables) all.push_back(&t.counts);
  Suppress(all, options.min_cell);
  return report;
}

}  // namespace sdoh::report
