// The report's numbers (pure): one row per patient in, suppressed tables out. No ids, no
// names: a PatientRow carries only what the report counts and stratifies by.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "plugin/report/demographics.h"
#include "plugin/report/suppression.h"
#include "plugin/report/wilson.h"

namespace sdoh::report {

// How a referral stands (plugin/report/referral_status.h maps FHIR statuses onto these).
enum class ReferralStatus : uint8_t { kOpen, kAccepted, kCompleted, kRejected, kCancelled };

// One referral sdoh-bridge made, read from a FHIR server: no ids, only what the report counts.
struct ReferralRow {
  std::string need;
  ReferralStatus status = ReferralStatus::kOpen;
  int64_t days_open = 0;  // whole days from authoredOn to its close, or to the report's as-of
  // The loop (issue 15 item 5), from the Task as the server holds it and the ledger's recorded
  // transitions: whether the performer ever accepted it (accepted, in-progress or completed
  // now, or a recorded transition to accepted / in-progress), and whole days from authoredOn
  // to the first acceptance and to completion when known.
  bool reached_accepted = false;
  std::optional<int64_t> days_to_acceptance;
  std::optional<int64_t> days_to_completion;
  // Rejected, failed or cancelled by the performer while our ServiceRequest is still open
  // (not retracted or revoked by sdoh-bridge): the Task status and its statusReason.
  bool bounced = false;
  std::string bounce_status;
  std::string bounce_reason;
  // Still waiting for acceptance past referrals.accept_within_days, or accepted without a
  // change past referrals.complete_within_days, at the report's as-of.
  bool stalled = false;
};

// One patient that has a Patient resource, as the report sees it.
struct PatientRow {
  bool active_living = true;             // active and not deceased
  bool screened = false;                 // a counted screening dated in the period
  std::set<std::string> positive_needs;  // needs flagged from in-period screenings
  bool interpreter_need = false;         // a flag with route interpreter
  Demographics demographics;
  std::string insurance = "not recorded";  // PRAPARE 76437-3 answer code
  // With a server source only: the patient's referrals authored in the period, and whether a
  // live interpreter ServiceRequest exists.
  std::vector<ReferralRow> referrals;
  bool interpreter_referral = false;
  // Due for screening at the report's as-of (plugin/pass/outreach_due.h): the first reason in
  // rank order, "" when not due.
  std::string outreach_reason;
};

struct CivilDate {
  int year = 0;
  int month = 1;
  int day = 1;
};

struct ReportOptions {
  std::string from;  // YYYY-MM-DD, first day of the period
  std::string to;    // YYYY-MM-DD, last day of the period (inclusive)
  CivilDate period_end;
  int64_t min_cell = 11;           // counts 1 .. min_cell-1 are suppressed
  int64_t min_compare = 30;        // strata with fewer patients are "too few to compare"
  std::vector<std::string> needs;  // rows of the positive-rate table, in order
  bool referrals = false;          // the source is a server: add the referral-status tables
  std::string referrals_as_of;     // FHIR instant until which open referrals count as open
  std::string outreach_as_of;      // FHIR instant the outreach backlog is counted at
  std::vector<std::string> outreach_reasons;  // rows of the backlog table, in rank order
};

struct MedianColumn {
  std::string key;    // report.json row key, e.g. "median_days_open"
  std::string label;  // column header, e.g. "Median days open"
  size_t count_column = 0;
  std::vector<std::optional<double>> values;  // one per row
};

struct ReportTable {
  std::string id;  // file suffix and JSON key: report-<id>.csv
  std::string title;
  std::string caption;
  std::string row_header;
  std::vector<std::string> rows;
  std::vector<std::string> columns;
  CountTable counts;
  // The rate of each row: counts[row][rate_numerator] / counts[row][rate_denominator].
  size_t rate_numerator = 0;
  size_t rate_denominator = 0;
  std::string rate_label;
  // Medians of days per row (days open; days to acceptance, to completion), each published only
  // when its row's count in `count_column` is published and not zero. Empty for most tables.
  std::vector<MedianColumn> medians;
};

// A row's rate, when it may be shown (neither count suppressed, denominator > 0).
struct RowRate {
  double rate = 0;
  Interval ci;
};
std::optional<RowRate> RateOf(const ReportTable& t, size_t row);
// "too few to compare" when the row's denominator is published and below min_compare.
bool TooFewToCompare(const ReportTable& t, size_t row, int64_t min_compare);

// A row's median (of t.medians[m]), when it may be shown.
std::optional<double> MedianOf(const ReportTable& t, size_t m, size_t row);
// The median of a list of days (nullopt when empty).
std::optional<double> Median(std::vector<int64_t> days);

struct Report {
  ReportOptions options;
  std::string denominator;  // the coverage denominator, in words
  std::vector<ReportTable> tables;
};

// "0-17", "18-44", "45-64", "65+" at `at`; "unknown" when birth_date is not a date.
std::string AgeBand(const std::string& birth_date, const CivilDate& at);

Report BuildReport(const std::vector<PatientRow>& patients, const ReportOptions& options);

}  // namespace sdoh::report
