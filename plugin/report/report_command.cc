#include "plugin/report/report_command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "fhir/datetime.h"
#include "plugin/outputs/output_file.h"
#include "plugin/pass/evaluate_pass.h"
#include "plugin/pass/outreach_due.h"
#include "plugin/pass/source.h"
#include "plugin/report/demographics.h"
#include "plugin/report/period_end_filter.h"
#include "plugin/report/referral_status.h"
#include "plugin/report/report_model.h"
#include "plugin/report/report_writers.h"
#include "plugin/rules/rules_engine.h"
#include "plugin/setup/config.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/server_writeback.h"

namespace sdoh {

namespace {

using report::CivilDate;

constexpr const char* kUsage =
    "usage: sdoh-bridge report [--config FILE] [--source DIR|URL] [--out DIR]\n"
    "                          [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--min-cell N]\n"
    "                          [--ledger FILE]\n"
    "\n"
    "Writes report.html (self-contained: inline CSS and SVG, no scripts or links),\n"
    "report.json and report-<table>.csv to the out folder: screening coverage (active, living\n"
    "patients with a counted screening dated in the period, of all active, living patients),\n"
    "positive rate per need, coverage by preferred language, race, ethnicity, gender, age band,\n"
    "ZIP3 and insurance, and interpreter need vs referral, with 95% Wilson intervals.\n"
    "With a FHIR server as the source (--source URL or `source:`; the `fhir:` section\n"
    "configures the client), also the referrals sdoh-bridge made (ServiceRequests and Tasks\n"
    "under referrals.identifier_system, authored in the period): open, accepted, completed,\n"
    "rejected, cancelled and median days open per need and stratum, and interpreter need vs\n"
    "an interpreter referral on the server; and the loop: per need and stratum, screened →\n"
    "positive → referred → accepted → completed, bounced (with the performers' reasons) and\n"
    "stalled, median days to acceptance and to completion. Always: the outreach backlog (who\n"
    "is due for screening, as `sdoh-bridge outreach` ranks them).\n"
    "\n"
    "  --from, --to   the period, inclusive, on screening date (default: the 12 months up to\n"
    "                 --to; --to defaults to today, UTC)\n"
    "  --min-cell N   counts from 1 to N-1 are suppressed, with complementary suppression\n"
    "                 (default 11)\n"
    "  --ledger FILE  the ledger of the runs against that server, for the times of earlier\n"
    "                 transitions (default: writeback.ledger, else <out>/ledger.sqlite; used\n"
    "                 only when it exists and is bound to the same server)\n";

CivilDate CivilFromDays(int64_t z) {  // H. Hinnant, "chrono-compatible date algorithms"
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0)), m, d};
}

int64_t Days(const CivilDate& c) {
  return fhir::DaysFromCivil(c.year, static_cast<unsigned>(c.month), static_cast<unsigned>(c.day));
}

std::string Format(const CivilDate& c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", c.year, c.month, c.day);
  return buf;
}

std::optional<CivilDate> ParseDate(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  CivilDate c{std::atoi(s.substr(0, 4).c_str()), std::atoi(s.substr(5, 2).c_str()),
              std::atoi(s.substr(8, 2).c_str())};
  if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > 31) return std::nullopt;
  CivilDate round = CivilFromDays(Days(c));
  if (round.year != c.year || round.month != c.month || round.day != c.day) return std::nullopt;
  return c;
}

// The newest counted answer to PRAPARE 76437-3 (primary insurance), or "not recorded".
std::string Insurance(const PatientRecord& rec, const PassCatalog& codes) {
  const CodeId question = codes.Find("76437-3");
  if (question == kNoCode) return "not recorded";
  std::string best = "not recorded";
  fhir::InstantMicros best_when = 0;
  bool found = false;
  for (const Screening& s : rec.counted) {
    for (const Answer& a : s.answers) {
      if (a.question != question || a.answer == kNoCode) continue;
      if (found && s.when < best_when) continue;
      best = a.answer == kNonLoincAnswer ? "other (not a LOINC answer)"
                                         : std::string(codes.Name(a.answer));
      best_when = s.when;
      found = true;
    }
  }
  return best;
}

}  // namespace

int RunReportCommand(const std::vector<std::string>& args) {
  return RunReportCommand(args, std::cout, std::cerr);
}

struct ReportArgs {
  std::string config_path, source, out_dir, from_arg, to_arg, ledger;
  int64_t min_cell = 11;
};

// -1: go on; otherwise the exit code (0 after --help, 2 on a usage error).
int ParseReportArgs(const std::vector<std::string>& args, ReportArgs* a, std::ostream& out,
                    std::ostream& err) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return 0;
    }
    auto value = [&](std::string* dst) {
      if (i + 1 >= args.size()) return false;
      *dst = args[++i];
      return true;
    };
    std::string min_cell_arg;
    bool ok = true;
    if (arg == "--config") {
      ok = value(&a->config_path);
    } else if (arg == "--source") {
      ok = value(&a->source);
    } else if (arg == "--out") {
      ok = value(&a->out_dir);
    } else if (arg == "--from") {
      ok = value(&a->from_arg);
    } else if (arg == "--to") {
      ok = value(&a->to_arg);
    } else if (arg == "--ledger") {
      ok = value(&a->ledger);
    } else if (arg == "--min-cell") {
      ok = value(&min_cell_arg);
      char* end = nullptr;
      long long n = ok ? std::strtoll(min_cell_arg.c_str(), &end, 10) : 0;
      if (!ok || min_cell_arg.empty() || *end != '\0' || n < 1) {
        err << "sdoh-bridge report: --min-cell needs a whole number >= 1\n" << kUsage;
        return 2;
      }
      a->min_cell = n;
    } else {
      err << "sdoh-bridge report: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
    if (!ok) {
      err << "sdoh-bridge report: " << arg << " needs a value\n" << kUsage;
      return 2;
    }
  }

  return -1;
}

// The period: --from/--to, by default the year up to today. False (message in err) on a bad date.
bool ReportPeriod(const ReportArgs& a, CivilDate* from_out, CivilDate* to_out, std::ostream& err) {
  CivilDate& to = *to_out;
  CivilDate& from = *from_out;
  to = CivilFromDays(fhir::NowMicros() / 86'400'000'000);
  if (!a.to_arg.empty()) {
    auto d = ParseDate(a.to_arg);
    if (!d) {
      err << "sdoh-bridge report: --to must be a date YYYY-MM-DD, got '" << a.to_arg << "'\n";
      return false;
    }
    to = *d;
  }
  if (!a.from_arg.empty()) {
    auto d = ParseDate(a.from_arg);
    if (!d) {
      err << "sdoh-bridge report: --from must be a date YYYY-MM-DD, got '" << a.from_arg << "'\n";
      return false;
    }
    from = *d;
  } else {
    CivilDate year_before{to.year - 1, to.month, to.day};
    if (year_before.month == 2 && year_before.day == 29 && !ParseDate(Format(year_before))) {
      year_before.day = 28;
    }
    from = CivilFromDays(Days(year_before) + 1);
  }
  if (Days(from) > Days(to)) {
    err << "sdoh-bridge report: --from " << Format(from) << " is after --to " << Format(to) << "\n";
    return false;
  }

  return true;
}

// What the report is built from: one row per patient with a Patient resource, and the instant
// referral status holds at.
struct ReportInput {
  std::vector<report::PatientRow> rows;
  fhir::InstantMicros as_of = 0;
};

// The ledger's record of our referral Tasks (when each first went accepted, in-progress or
// completed, and completed), for the times of statuses the server no longer shows. None when
// the file does not exist, cannot be read or is bound to another server (said on err).
// A missing file named by --ledger (`explicit_path`) is said too.
std::map<std::string, report::TaskHistory> LoadTaskHistory(const std::string& path,
                                                           bool explicit_path, const Config& config,
                                                           std::ostream& err) {
  std::map<std::string, report::TaskHistory> out;
  writeback::Ledger ledger;
  if (fhir::Status s = ledger.OpenForReading(path); !s.ok()) {
    if (s.code() != fhir::Status::Code::kNotFound || explicit_path) {
      err << "sdoh-bridge report: " << s.message()
          << "; the referral loop's times come from the server only\n";
    }
    return out;
  }
  if (!ledger.BoundTo(config.source, config.identifier_system)) {
    err << "sdoh-bridge report: the ledger " << path << " is bound to another server or "
        << "identifier system; not used (the referral loop's times come from the server only)\n";
    return out;
  }
  for (const writeback::LoopRow& row : ledger.LoopRows()) {
    report::TaskHistory h;
    for (const writeback::LoopTransition& t : ledger.Transitions(row.task)) {
      auto at = fhir::ParseFhirDateTime(t.at, fhir::TimeZone::Utc());
      if (!at) continue;
      if (t.to == "accepted" || t.to == "in-progress" || t.to == "completed") {
        if (!h.accepted || *at < *h.accepted) h.accepted = at;
      }
      if (t.to == "completed" && (!h.completed || *at < *h.completed)) h.completed = at;
    }
    out.emplace(row.task, h);
  }
  return out;
}

// Reads the source once through the one evaluation (the rules see the screenings of [start,
// end)) and, from a server, the referral status. -1 when done; otherwise the exit code.
int ReadReportInput(const Pipeline& p, bool server, const std::string& ledger,
                    fhir::InstantMicros start, fhir::InstantMicros end, ReportInput* input,
                    std::ostream& err) {
  std::vector<report::PatientRow>& rows = input->rows;
  // The store: an NDJSON folder, or a FHIR server through the same REST client as `run`.
  auto opened = Source::Open(p.config);
  if (!opened.ok()) {
    err << "sdoh-bridge: config error: " << opened.status().message() << "\n";
    return 2;
  }
  fhir::Store& store = (*opened)->store();
  const fhir::InstantMicros now = fhir::NowMicros();
  // What is read goes through the period-end filter and the demographics tap to the collector;
  // the rules see the screenings of the period.
  std::unique_ptr<report::PeriodEndFilter> as_of_end;
  std::unique_ptr<report::DemographicsTap> tap;
  PassOptions po;
  po.now = now;
  po.plan_referrals = false;
  po.evaluate_window = std::make_pair(start, end);
  po.reader = [&](fhir::ResourceVisitor& collector) -> fhir::ResourceVisitor& {
    as_of_end =
        std::make_unique<report::PeriodEndFilter>(collector, *p.catalog, p.config.time_zone, end);
    tap = std::make_unique<report::DemographicsTap>(*as_of_end);
    return *tap;
  };
  Pass pass(p, po);
  if (fhir::Status s = pass.Read(store); !s.ok()) {
    err << "sdoh-bridge: reading " << store.Describe() << " failed: " << s.message() << "\n";
    return 1;
  }
  // Referral status: what the server holds now. Open referrals count as open until the end of
  // the period, or until now when the period has not ended.
  report::ReferralReader referrals(p.config.identifier_system, p.config.time_zone, *p.catalog);
  const fhir::InstantMicros as_of = input->as_of = std::min(now, end);
  std::map<std::string, std::vector<report::ReferralRow>> referrals_by_patient;
  std::set<std::string> interpreter_referred;
  if (server) {
    if (fhir::Status s = store.ReadAll({"ServiceRequest", "Task"}, referrals); !s.ok()) {
      err << "sdoh-bridge: reading " << store.Describe() << " failed: " << s.message() << "\n";
      return 1;
    }
    const std::map<std::string, report::TaskHistory> history = LoadTaskHistory(
        ledger.empty() ? writeback::LedgerPath(p.config) : ledger, !ledger.empty(), p.config, err);
    referrals_by_patient =
        referrals.ByPatient(start, end, as_of, report::FunnelInputs{p.config.loop, &history});
    interpreter_referred = referrals.WithInterpreterReferral();
  }

  FunctionSink sink([&](PatientResult& result) {
    const PatientRecord& rec = result.record;
    if (!rec.facts.present) return;  // screenings without a Patient resource are not counted
    report::PatientRow row;
    row.active_living = rec.facts.active && !rec.facts.deceased;
    if (auto it = tap->by_patient().find(rec.id); it != tap->by_patient().end()) {
      row.demographics = it->second;
    }
    row.insurance = Insurance(rec, pass.collector().pass_catalog());
    if (auto it = referrals_by_patient.find(rec.id); it != referrals_by_patient.end()) {
      row.referrals = std::move(it->second);
    }
    row.interpreter_referral = interpreter_referred.count(rec.id) != 0;
    row.screened = std::any_of(rec.counted.begin(), rec.counted.end(),
                               [&](const Screening& s) { return s.when >= start && s.when < end; });
    if (auto due = ClassifyDue(result, pass.collector().pass_catalog(), as_of,
                               p.config.outreach.rescreen_after_days)) {
      row.outreach_reason = due->reasons.front();
    }
    for (const NeedFlag& f : result.flags) {
      row.positive_needs.insert(f.need);
      if (f.def != nullptr && f.def->language) row.interpreter_need = true;
    }
    rows.push_back(std::move(row));
  });
  pass.Evaluate(sink);

  return -1;
}

// Builds the report and writes report.html, report.json and the CSV tables.
int WriteReport(const Pipeline& p, const CivilDate& from, const CivilDate& to, int64_t min_cell,
                bool server, const ReportInput& input, std::ostream& out, std::ostream& err) {
  const std::vector<report::PatientRow>& rows = input.rows;
  report::ReportOptions ro;
  ro.from = Format(from);
  ro.to = Format(to);
  ro.period_end = to;
  ro.min_cell = min_cell;
  ro.referrals = server;
  ro.referrals_as_of = fhir::FormatInstantUtc(input.as_of);
  ro.outreach_as_of = ro.referrals_as_of;
  ro.outreach_reasons = OutreachReasons();
  for (const auto& [name, def] : p.catalog->needs()) ro.needs.push_back(name);
  report::Report rep = report::BuildReport(rows, ro);

  std::vector<std::pair<std::string, std::string>> files = report::RenderCsv(rep);
  files.emplace(files.begin(), "report.json", report::RenderJson(rep));
  files.emplace(files.begin(), "report.html", report::RenderHtml(rep));
  if (fhir::Status s = EnsureDirectory(p.config.out); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  for (const auto& [name, content] : files) {
    OutputFile f((std::filesystem::path(p.config.out) / name).string());
    fhir::Status s = f.Open();
    if (s.ok()) {
      f.Write(content);
      s = f.Commit();
    }
    if (!s.ok()) {
      err << "sdoh-bridge: " << s.message() << "\n";
      return 1;
    }
  }
  out << "report " << ro.from << " to " << ro.to << ": " << rows.size()
      << " patients read; wrote report.html, report.json and " << files.size() - 2
      << " CSV tables to " << p.config.out << "\n";
  return 0;
}

int RunReportCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ReportArgs a;
  if (int code = ParseReportArgs(args, &a, out, err); code >= 0) return code;
  CivilDate from, to;
  if (!ReportPeriod(a, &from, &to, err)) return 2;
  auto pipeline = LoadCommandPipeline(a.config_path, a.source, a.out_dir, err);
  if (!pipeline) return 2;
  Pipeline& p = *pipeline;
  const bool server = IsServerSource(p.config.source);
  if (std::error_code ec; !server && !std::filesystem::is_directory(p.config.source, ec)) {
    err << "sdoh-bridge report: source '" << p.config.source << "' is not a folder\n";
    return 2;
  }
  // The period in instants: [start of `from`, start of the day after `to`) in the time zone.
  auto start = fhir::ParseFhirDateTime(Format(from), p.config.time_zone);
  auto end = fhir::ParseFhirDateTime(Format(CivilFromDays(Days(to) + 1)), p.config.time_zone);
  if (!start || !end) {
    err << "sdoh-bridge report: cannot place the period in time zone " << p.config.time_zone_name
        << "\n";
    return 2;
  }
  ReportInput input;
  if (int code = ReadReportInput(p, server, a.ledger, *start, *end, &input, err); code >= 0) {
    return code;
  }
  return WriteReport(p, from, to, a.min_cell, server, input, out, err);
}

}  // namespace sdoh
