#include "plugin/report/funnel.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>

namespace sdoh::report {

namespace {

// The stages after screening, in funnel order: the columns of the stratum tables, and of the
// per-need table after "Screened".
enum Stage : size_t { kPositive, kReferred, kAccepted, kCompleted, kBounced, kStalled, kStages };
constexpr std::array<const char*, kStages> kStageNames = {"Positive",  "Referred", "Accepted",
                                                          "Completed", "Bounced",  "Stalled"};
constexpr std::array<const char*, kStages> kStageKeys = {"positive",  "referred", "accepted",
                                                         "completed", "bounced",  "stalled"};

// Where one patient stands, for one need or for any need.
struct Funnel {
  std::array<bool, kStages> reached{};
  std::vector<int64_t> to_acceptance;  // one per (patient, need) accepted with a known time
  std::vector<int64_t> to_completion;

  void Add(const Funnel& other) {
    for (size_t s = 0; s < kStages; ++s) reached[s] = reached[s] || other.reached[s];
    to_acceptance.insert(to_acceptance.end(), other.to_acceptance.begin(),
                         other.to_acceptance.end());
    to_completion.insert(to_completion.end(), other.to_completion.begin(),
                         other.to_completion.end());
  }
};

bool InCohort(const PatientRow& p) { return p.active_living && p.screened; }

// One patient, one need: positive from the period's screenings; the other stages from the
// referrals for that need authored in the period (any of them reaching a stage reaches it);
// the days from the first referral to reach the stage with a known time.
Funnel FunnelOf(const PatientRow& p, const std::string& need) {
  Funnel f;
  if (!InCohort(p) || p.positive_needs.count(need) == 0) return f;
  f.reached[kPositive] = true;
  std::optional<int64_t> accept, complete;
  auto earliest = [](std::optional<int64_t>& best, const std::optional<int64_t>& d) {
    if (d && (!best || *d < *best)) best = d;
  };
  for (const ReferralRow& r : p.referrals) {
    if (r.need != need) continue;
    f.reached[kReferred] = true;
    const bool completed = r.status == ReferralStatus::kCompleted;
    f.reached[kAccepted] = f.reached[kAccepted] || r.reached_accepted || completed;
    f.reached[kCompleted] = f.reached[kCompleted] || completed;
    f.reached[kBounced] = f.reached[kBounced] || r.bounced;
    f.reached[kStalled] = f.reached[kStalled] || r.stalled;
    if (r.reached_accepted || completed) earliest(accept, r.days_to_acceptance);
    if (completed) earliest(complete, r.days_to_completion);
  }
  if (accept) f.to_acceptance.push_back(*accept);
  if (complete) f.to_completion.push_back(*complete);
  return f;
}

Funnel AnyNeed(const PatientRow& p, const std::vector<std::string>& needs) {
  Funnel f;
  for (const std::string& need : needs) f.Add(FunnelOf(p, need));
  return f;
}

// A row's counts (patients reaching each stage) and the days behind its medians.
struct FunnelRow {
  std::array<int64_t, kStages> n{};
  std::vector<int64_t> to_acceptance, to_completion;

  void Count(const Funnel& f) {
    for (size_t s = 0; s < kStages; ++s) n[s] += f.reached[s] ? 1 : 0;
    to_acceptance.insert(to_acceptance.end(), f.to_acceptance.begin(), f.to_acceptance.end());
    to_completion.insert(to_completion.end(), f.to_completion.begin(), f.to_completion.end());
  }
};

constexpr const char* kFunnelCaption =
    "Active, living patients screened in the period: positive for the need (in-period "
    "screenings), referred (a referral of sdoh-bridge for the need authored in the period), "
    "accepted (the performer accepted, started or completed it), completed, bounced (rejected, "
    "failed or cancelled by the performer while the referral was still open), stalled (not "
    "accepted within referrals.accept_within_days, or no change within "
    "referrals.complete_within_days, at the report's as-of). Statuses as the server holds them; "
    "a status is dated by Task.lastModified (else meta.lastUpdated), an earlier acceptance by "
    "the ledger's recorded transition. Medians in whole days from authoring, over the (patient, "
    "need) pairs that reached the stage with a known time";

// Appends `row`'s cells (stage columns from `first`, with shared keys when `shared` is set)
// and its medians to `t`, whose medians are [to acceptance, to completion].
void AppendRow(ReportTable& t, const std::string& label, const FunnelRow& row,
               std::vector<Cell> lead, bool shared) {
  t.rows.push_back(label);
  for (size_t s = 0; s < kStages; ++s) {
    lead.push_back(Count(row.n[s], shared ? std::string("funnel-") + kStageKeys[s] : ""));
  }
  t.counts.cells.push_back(std::move(lead));
  t.medians[0].values.push_back(Median(row.to_acceptance));
  t.medians[1].values.push_back(Median(row.to_completion));
}

// The columns, rate (completed of referred) and medians of a funnel table whose stage columns
// start at `first`.
void SetFunnelColumns(ReportTable& t, size_t first) {
  for (const char* name : kStageNames) t.columns.push_back(name);
  t.rate_numerator = first + kCompleted;
  t.rate_denominator = first + kReferred;
  t.rate_label = "Completed of referred";
  t.medians = {{"median_days_to_acceptance", "Median days to acceptance", first + kAccepted, {}},
               {"median_days_to_completion", "Median days to completion", first + kCompleted, {}}};
}

ReportTable FunnelPerNeed(const std::vector<PatientRow>& patients, const ReportOptions& options) {
  ReportTable t;
  t.id = "funnel";
  t.title = "Referral funnel per need";
  t.caption = kFunnelCaption;
  t.row_header = "Need";
  t.columns = {"Screened"};
  SetFunnelColumns(t, 1);
  int64_t screened = 0;
  for (const PatientRow& p : patients) screened += InCohort(p) ? 1 : 0;
  FunnelRow any;
  std::vector<FunnelRow> rows(options.needs.size());
  for (const PatientRow& p : patients) {
    if (!InCohort(p)) continue;
    for (size_t i = 0; i < options.needs.size(); ++i) rows[i].Count(FunnelOf(p, options.needs[i]));
    any.Count(AnyNeed(p, options.needs));
  }
  for (size_t i = 0; i < options.needs.size(); ++i) {
    AppendRow(t, options.needs[i], rows[i], {Count(screened, "screened")}, false);
    // The positive count is the positive table's (the same patients).
    t.counts.cells.back()[1 + kPositive].shared = "positive-" + options.needs[i];
  }
  AppendRow(t, "Any need", any, {Count(screened, "screened")}, true);
  return t;
}

ReportTable FunnelByStratum(const Dimension& d, const std::vector<PatientRow>& patients,
                            const ReportOptions& options) {
  ReportTable t;
  t.id = "funnel-" + d.key;
  t.title = "Referral funnel by " + d.by;
  t.caption = std::string(kFunnelCaption) + "; any need, by " + d.header;
  t.row_header = d.header;
  SetFunnelColumns(t, 0);
  std::map<std::string, FunnelRow> by;
  FunnelRow all;
  for (const PatientRow& p : patients) {
    if (!InCohort(p)) continue;
    const Funnel f = AnyNeed(p, options.needs);
    if (!f.reached[kPositive]) continue;
    by[d.stratum(p)].Count(f);
    all.Count(f);
  }
  const std::vector<std::string> order = RowOrder(d.order, by);
  for (const std::string& k : order) AppendRow(t, k, by[k], {}, false);
  const size_t strata = order.size();
  AppendRow(t, "All patients", all, {}, true);
  for (size_t c = 0; c < kStages; ++c) {
    Relation rel;
    for (size_t r = 0; r < strata; ++r) rel.parts.push_back({r, c});
    rel.total = {strata, c};
    t.counts.relations.push_back(rel);
  }
  return t;
}

// A performer's reason as a row label: whitespace collapsed, at most 80 characters,
// "No reason given" when empty.
std::string ReasonLabel(const std::string& reason) {
  std::string s;
  for (char c : reason) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (space && (s.empty() || s.back() == ' ')) continue;
    s += space ? ' ' : c;
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s.empty()) return "No reason given";
  if (s.size() > 80) {
    size_t cut = 77;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    s = s.substr(0, cut) + "...";
  }
  return s;
}

ReportTable BouncedReasons(const std::vector<PatientRow>& patients, const ReportOptions& options) {
  // By label: rejected, failed, cancelled.
  std::map<std::string, std::array<int64_t, 3>> by;
  for (const PatientRow& p : patients) {
    if (!InCohort(p)) continue;
    for (const ReferralRow& r : p.referrals) {
      if (!r.bounced || p.positive_needs.count(r.need) == 0) continue;
      const size_t c = r.bounce_status == "rejected" ? 0 : r.bounce_status == "failed" ? 1 : 2;
      ++by[ReasonLabel(r.bounce_reason)][c];
    }
  }
  // Reasons given fewer than min_cell times are pooled: a rare reason is free text that could
  // point at one patient.
  const std::string pooled =
      "Other reasons (each fewer than " + std::to_string(options.min_cell) + ")";
  std::map<std::string, std::array<int64_t, 3>> rows;
  for (const auto& [label, n] : by) {
    auto& into = n[0] + n[1] + n[2] < options.min_cell ? rows[pooled] : rows[label];
    for (size_t c = 0; c < 3; ++c) into[c] += n[c];
  }
  ReportTable t;
  t.id = "bounced-reasons";
  t.title = "Bounced referrals by reason";
  t.caption =
      "The funnel's bounced referrals (rejected, failed or cancelled by the performer while "
      "still open) by the performer's Task.statusReason; reasons given fewer than the "
      "minimum cell size are pooled";
  t.row_header = "Reason";
  t.columns = {"Rejected", "Failed", "Cancelled by the performer", "Bounced",
               "All bounced referrals"};
  std::array<int64_t, 3> total{};
  for (const auto& [label, n] : rows) {
    for (size_t c = 0; c < 3; ++c) total[c] += n[c];
    if (label != pooled) t.rows.push_back(label);
  }
  if (rows.count(pooled) != 0) t.rows.push_back(pooled);
  const int64_t all = total[0] + total[1] + total[2];
  for (const std::string& label : t.rows) {
    const auto& n = rows[label];
    t.counts.cells.push_back({Count(n[0]), Count(n[1]), Count(n[2]), Count(n[0] + n[1] + n[2]),
                              Count(all, "bounced-referrals")});
  }
  const size_t reasons = t.rows.size();
  t.rows.push_back("All bounced referrals");
  t.counts.cells.push_back({Count(total[0]), Count(total[1]), Count(total[2]),
                            Count(all, "bounced-referrals"), Count(all, "bounced-referrals")});
  for (size_t r = 0; r <= reasons; ++r)
    t.counts.relations.push_back({{{r, 0}, {r, 1}, {r, 2}}, {r, 3}});
  for (size_t c = 0; c < 4; ++c) {
    Relation rel;
    for (size_t r = 0; r < reasons; ++r) rel.parts.push_back({r, c});
    rel.total = {reasons, c};
    t.counts.relations.push_back(rel);
  }
  t.rate_numerator = 3;
  t.rate_denominator = 4;
  t.rate_label = "Share of bounced referrals";
  return t;
}

}  // namespace

void AddFunnelTables(Report& report, const std::vector<PatientRow>& patients) {
  report.tables.push_back(FunnelPerNeed(patients, report.options));
  for (const Dimension& d : Dimensions(report.options.period_end)) {
    report.tables.push_back(FunnelByStratum(d, patients, report.options));
  }
  report.tables.push_back(BouncedReasons(patients, report.options));
}

void AddOutreachTable(Report& report, const std::vector<PatientRow>& patients) {
  const ReportOptions& options = report.options;
  std::map<std::string, int64_t> by;
  int64_t patients_n = 0;
  for (const PatientRow& p : patients) {
    if (!p.active_living) continue;
    ++patients_n;
    if (!p.outreach_reason.empty()) ++by[p.outreach_reason];
  }
  ReportTable t;
  t.id = "outreach";
  t.title = "Outreach backlog: who is due for screening";
  t.caption =
      "Active, living patients due for screening at " + options.outreach_as_of +
      " by their first reason, as `sdoh-bridge outreach` ranks them (never screened with a "
      "positive need from Patient data, incomplete safety screen, overdue past "
      "outreach.rescreen_after_days, declined items, never screened), of all active, living "
      "patients";
  t.row_header = "Reason";
  t.columns = {"Due for screening", "Active, living patients"};
  int64_t due = 0;
  for (const std::string& reason : options.outreach_reasons) {
    t.rows.push_back(reason);
    t.counts.cells.push_back({Count(by[reason]), Count(patients_n, "patients")});
    due += by[reason];
  }
  const size_t reasons = t.rows.size();
  t.rows.push_back("All due");
  t.counts.cells.push_back({Count(due), Count(patients_n, "patients")});
  Relation rel;
  for (size_t r = 0; r < reasons; ++r) rel.parts.push_back({r, 0});
  rel.total = {reasons, 0};
  t.counts.relations.push_back(rel);
  t.rate_numerator = 0;
  t.rate_denominator = 1;
  t.rate_label = "Share of active, living patients";
  report.tables.push_back(t);
}

}  // namespace sdoh::report
