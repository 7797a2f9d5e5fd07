#include "plugin/commands/referrals_command.h"

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "fhir/datetime.h"
#include "fhir/json.h"
#include "plugin/referrals/loop_policy.h"
#include "plugin/setup/config.h"
#include "plugin/setup/fhir_section.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/server_writeback.h"

namespace sdoh {

namespace {

constexpr fhir::InstantMicros kDay = 86400LL * 1000000;

struct WorkItem {
  std::string action;  // bounced | stalled | completed-awaiting-close | ""
  int rank = 3;        // order of the actions; 3 = no action
  std::string patient, name, need, status, performer, authored, last_change, reason, follow_up,
      task, output;
  long long age_days = -1;
  long long days_since_change = -1;
  std::string task_identifier;
};

std::optional<fhir::InstantMicros> Instant(const std::string& s) {
  return fhir::ParseFhirDateTime(s, fhir::TimeZone::Utc());
}

long long DaysBetween(const std::string& from, fhir::InstantMicros to) {
  auto t = Instant(from);
  return t ? (to - *t) / kDay : -1;
}

// The worklist rows of the ledger's loop, as of `now`; closed referrals left out.
std::vector<WorkItem> Worklist(writeback::Ledger& ledger, const Config& config,
                               fhir::InstantMicros now) {
  std::vector<WorkItem> items;
  for (const writeback::LoopRow& r : ledger.LoopRows()) {
    WorkItem w;
    auto task_row = ledger.Find("Task", r.task);
    const bool retracted_by_us = task_row && task_row->state == "revoked";
    if (IsBounced(r.status) && !retracted_by_us) {
      w.action = "bounced";
      w.rank = 0;
    } else if (r.status == "completed") {
      if (r.sr_status == "completed" || r.sr_status == "revoked") continue;  // closed
      w.action = "completed-awaiting-close";
      w.rank = 2;
    } else if (IsBounced(r.status) || r.status == "entered-in-error") {
      continue;  // closed by us
    } else {
      LoopTask t;
      t.status = r.status;
      t.authored = r.authored;
      LoopDecision d =
          DecideLoop(t, Instant(r.status_since).value_or(now), true, "", now, config.loop);
      if (!d.follow_up_kind.empty()) {
        w.action = "stalled";
        w.rank = 1;
      }
    }
    w.patient = r.patient;
    w.need = r.need;
    w.status = r.status;
    w.performer = r.performer;
    w.authored = r.authored;
    w.last_change = r.status_since;
    w.reason = r.status_reason;
    w.follow_up = r.follow_up;
    w.task = r.task_id.empty() ? "" : "Task/" + r.task_id;
    w.output = r.output;
    w.age_days = DaysBetween(r.authored, now);
    w.days_since_change = DaysBetween(r.status_since, now);
    w.task_identifier = r.task;
    items.push_back(std::move(w));
  }
  std::stable_sort(items.begin(), items.end(), [](const WorkItem& a, const WorkItem& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.age_days != b.age_days) return a.age_days > b.age_days;
    return a.task_identifier < b.task_identifier;
  });
  return items;
}

// "Given Family" of a Patient resource's first name.
std::string NameOf(const rapidjson::Value& patient) {
  const rapidjson::Value* names = fhir::json::ArrayMember(patient, "name");
  if (names == nullptr || names->Empty()) return "";
  const rapidjson::Value& n = (*names)[0];
  std::string s;
  if (const rapidjson::Value* given = fhir::json::ArrayMember(n, "given")) {
    for (const auto& g : given->GetArray()) {
      if (g.IsString()) s += (s.empty() ? "" : " ") + std::string(g.GetString());
    }
  }
  if (auto family = fhir::json::StrMember(n, "family"); !family.empty()) {
    s += (s.empty() ? "" : " ") + std::string(family);
  }
  if (s.empty()) s = std::string(fhir::json::StrMember(n, "text"));
  return s;
}

// --with-names: from the source's Patient resources (server reads, or Patient.ndjson).
bool AddNames(const Config& config, std::vector<WorkItem>& items, std::ostream& err) {
  std::map<std::string, std::string> names;
  if (IsServerSource(config.source)) {
    auto client = BuildServerClient(config, err);
    if (!client) return false;
    for (const WorkItem& w : items) {
      if (names.count(w.patient)) continue;
      auto r = client->fhir->Read("Patient", w.patient);
      if (!r.ok() || !r->body) {
        err << "sdoh-bridge: reading Patient/" << w.patient << " failed\n";
        return false;
      }
      names[w.patient] = NameOf(*r->body);
    }
  } else {
    std::ifstream in(config.source + "/Patient.ndjson");
    std::string line;
    while (std::getline(in, line)) {
      rapidjson::Document d;
      d.Parse(line.c_str());
      if (d.HasParseError() || !d.IsObject()) continue;
      names[std::string(fhir::json::StrMember(d, "id"))] = NameOf(d);
    }
  }
  for (WorkItem& w : items) w.name = names[w.patient];
  return true;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string Days(long long d) { return d < 0 ? "" : std::to_string(d); }

void Write(const std::vector<WorkItem>& items, const std::string& format, bool with_names,
           std::ostream& out) {
  using Field = std::pair<const char*, std::string>;
  auto fields = [&](const WorkItem& w) {
    std::vector<Field> f = {{"action", w.action}, {"patient", "Patient/" + w.patient}};
    if (with_names) f.push_back({"name", w.name});
    for (Field x :
         {Field{"need", w.need}, Field{"status", w.status}, Field{"performer", w.performer},
          Field{"age_days", Days(w.age_days)}, Field{"last_change", w.last_change},
          Field{"days_since_change", Days(w.days_since_change)}, Field{"reason", w.reason},
          Field{"follow_up", w.follow_up}, Field{"task", w.task}, Field{"output", w.output}}) {
      f.push_back(std::move(x));
    }
    return f;
  };
  if (format == "ndjson") {
    for (const WorkItem& w : items) {
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> jw(sb);
      jw.StartObject();
      for (const auto& [k, v] : fields(w)) {
        if (v.empty()) continue;
        jw.Key(k);
        if (std::string_view(k).find("days") != std::string_view::npos) {
          jw.Int64(std::stoll(v));
        } else {
          jw.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        }
      }
      jw.EndObject();
      out << sb.GetString() << "\n";
    }
    return;
  }
  WorkItem header_item;
  std::vector<Field> header = fields(header_item);
  if (format == "csv") {
    for (size_t i = 0; i < header.size(); ++i) out << (i ? "," : "") << header[i].first;
    out << "\n";
    for (const WorkItem& w : items) {
      auto f = fields(w);
      for (size_t i = 0; i < f.size(); ++i) out << (i ? "," : "") << CsvField(f[i].second);
      out << "\n";
    }
    return;
  }
  // table: the columns a care manager scans; reason, follow-up and output are in ndjson / csv.
  std::vector<std::string> cols = {"action", "patient"};
  if (with_names) cols.push_back("name");
  for (const char* c : {"need", "status", "performer", "age_days", "days_since_change"}) {
    cols.push_back(c);
  }
  std::vector<std::vector<std::string>> rows;
  for (const WorkItem& w : items) {
    std::map<std::string, std::string> m;
    for (auto& [k, v] : fields(w)) m[k] = v;
    std::vector<std::string> row;
    for (const std::string& c : cols) row.push_back(m[c].empty() ? "-" : m[c]);
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(cols.size());
  for (size_t i = 0; i < cols.size(); ++i) {
    width[i] = cols[i].size();
    for (const auto& r : rows) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) s += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out << s << "\n";
  };
  line(cols);
  for (const auto& r : rows) line(r);
  out << rows.size() << " referral(s), "
      << std::count_if(items.begin(), items.end(),
                       [](const WorkItem& w) { return !w.action.empty(); })
      << " needing action\n";
}

}  // namespace

int ReferralsCommand(const ReferralsOptions& o, std::ostream& out, std::ostream& err) {
  if (o.format != "table" && o.format != "ndjson" && o.format != "csv") {
    err << "sdoh-bridge: --format must be table, ndjson or csv, got '" << o.format << "'\n";
    return 2;
  }
  auto config = LoadConfig(o.config_path.empty() ? DefaultConfigPath() : o.config_path);
  if (!config.ok()) {
    err << "sdoh-bridge: config error: " << config.status().message() << "\n";
    return 2;
  }
  if (!o.out.empty()) config->out = o.out;
  fhir::InstantMicros now = fhir::NowMicros();
  if (!o.as_of.empty()) {
    auto t = fhir::ParseFhirDateTime(o.as_of, config->time_zone);
    if (!t) {
      err << "sdoh-bridge: --as-of must be a FHIR dateTime, got '" << o.as_of << "'\n";
      return 2;
    }
    now = *t;
  }
  writeback::Ledger ledger;
  const std::string path = o.ledger.empty() ? writeback::LedgerPath(*config) : o.ledger;
  if (fhir::Status s = ledger.OpenForReading(path); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  std::vector<WorkItem> items = Worklist(ledger, *config, now);
  if (o.with_names && !AddNames(*config, items, err)) return 1;
  Write(items, o.format, o.with_names, out);
  return 0;
}

namespace {

constexpr const char* kReferralsUsage =
    R"(Usage: sdoh-bridge referrals [--config FILE] [--out DIR] [--ledger FILE]
                           [--format table|ndjson|csv] [--as-of DATETIME] [--with-names]

The care managers' worklist, from the ledger that `run` against a FHIR server keeps: every
referral Task sdoh-bridge wrote that is open or needs action, with its age, status, performer
and last change. Needing action first: bounced (rejected, failed or cancelled by the
performer), stalled (requested longer than referrals.accept_within_days, default 7; accepted or
in-progress without a change for referrals.complete_within_days, default 30), then
completed-awaiting-close (completed, our ServiceRequest not yet completed).
Patients are listed by id; --with-names adds their names, read from the source's Patient
resources (never logged).
Exit codes: 0 done; 1 the ledger or a Patient cannot be read; 2 usage or config error.
)";

bool Value(const std::vector<std::string>& args, size_t& i, const std::string& name,
           std::string* v) {
  const std::string& a = args[i];
  if (a.size() > name.size() && a[name.size()] == '=') {
    *v = a.substr(name.size() + 1);
    return true;
  }
  if (a != name || i + 1 >= args.size()) return false;
  *v = args[++i];
  return true;
}

}  // namespace

int RunReferralsCommand(const std::vector<std::string>& args) {
  ReferralsOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kReferralsUsage;
      return 0;
    }
    bool ok = true;
    if (a == "--with-names") {
      o.with_names = true;
    } else if (a.rfind("--config", 0) == 0) {
      ok = Value(args, i, "--config", &o.config_path);
    } else if (a.rfind("--out", 0) == 0) {
      ok = Value(args, i, "--out", &o.out);
    } else if (a.rfind("--ledger", 0) == 0) {
      ok = Value(args, i, "--ledger", &o.ledger);
    } else if (a.rfind("--format", 0) == 0) {
      ok = Value(args, i, "--format", &o.format);
    } else if (a.rfind("--as-of", 0) == 0) {
      ok = Value(args, i, "--as-of", &o.as_of);
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "sdoh-bridge: bad option '" << a << "'\n\n" << kReferralsUsage;
      return 2;
    }
  }
  return ReferralsCommand(o, std::cout, std::cerr);
}

}  // namespace sdoh
