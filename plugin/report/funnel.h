// Inside plugin/report: the tables of the referral loop (issue 15 item 5) — the funnel per need
// and per stratum, the reasons referrals bounced, the outreach backlog — and what they share
// with the other tables (report_model.cc): the strata and a count cell.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "plugin/report/report_model.h"

namespace sdoh::report {

inline Cell Count(int64_t value, std::string shared = "") {
  Cell c;
  c.value = value;
  c.shared = std::move(shared);
  return c;
}

// One way of splitting patients: table id suffix, title words ("… by <by>"), row header, the
// stratum of a patient, and the rows to put first (in that order) when present.
struct Dimension {
  std::string key;
  std::string by;
  std::string header;
  std::function<std::string(const PatientRow&)> stratum;
  std::vector<std::string> order;
};

// The row order of a stratified table: the keys of `order` that `rows` has, then its other keys
// in map order.
template <typename Map>
std::vector<std::string> RowOrder(const std::vector<std::string>& order, const Map& rows) {
  std::vector<std::string> out;
  for (const std::string& o : order) {
    if (rows.count(o) != 0) out.push_back(o);
  }
  for (const auto& [k, v] : rows) {
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

// Preferred language, race, ethnicity, gender, age band at `end`, ZIP3, insurance.
std::vector<Dimension> Dimensions(const CivilDate& end);

// With a server source. "funnel": per need (and any need), among active, living patients
// screened in the period: screened → positive → referred → accepted → completed, bounced,
// stalled (patients), with median days to acceptance and to completion (over the (patient,
// need) pairs that reached the stage and whose time is known). "funnel-<stratum>": the same
// for any need, per stratum. "bounced-reasons": the funnel's bounced referrals by the
// performer's reason; reasons with fewer than min_cell referrals are pooled.
void AddFunnelTables(Report& report, const std::vector<PatientRow>& patients);

// "outreach": active, living patients due for screening at options.outreach_as_of, by their
// first reason (options.outreach_reasons), of all active, living patients.
void AddOutreachTable(Report& report, const std::vector<PatientRow>& patients);

}  // namespace sdoh::report
