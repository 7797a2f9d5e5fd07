#include "plugin/commands/outreach_command.h"

#include <algorithm>
#include <iostream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "plugin/commands/outreach_writer.h"
#include "plugin/pass/evaluate_pass.h"
#include "plugin/pass/outreach_due.h"
#include "plugin/pass/source.h"
#include "plugin/setup/pipeline.h"

namespace sdoh {

namespace {

struct Due {
  std::string patient;
  std::vector<std::string> reasons;  // in rank order
  int rank = 0;
  std::string last_screened;  // FHIR instant of the newest counted screening
  long long days_since = -1;
  long long overdue_days = -1;
  std::string positive_needs;  // never-screened-prior-positive: the needs, comma-separated
};

class OutreachSink : public PassSink {
 public:
  OutreachSink(const PassCatalog& codes, fhir::InstantMicros as_of, int rescreen_after_days)
      : codes_(codes), as_of_(as_of), rescreen_after_days_(rescreen_after_days) {}

  void OnPatient(PatientResult& r) override {
    auto reasons = ClassifyDue(r, codes_, as_of_, rescreen_after_days_);
    if (!reasons) return;
    Due d;
    d.patient = r.record.id;
    d.reasons = std::move(reasons->reasons);
    d.rank = reasons->rank;
    if (reasons->last_screened) d.last_screened = fhir::FormatInstantUtc(*reasons->last_screened);
    d.days_since = reasons->days_since;
    d.overdue_days = reasons->overdue_days;
    d.positive_needs = std::move(reasons->positive_needs);
    due.push_back(std::move(d));
  }

  std::vector<Due> due;

 private:
  const PassCatalog& codes_;
  fhir::InstantMicros as_of_;
  int rescreen_after_days_;
};

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ";") + x;
  return s;
}

void Write(const std::vector<Due>& due, const std::string& format, std::ostream& out) {
  if (format == "csv") {
    out << "rank,patient,reason,reasons,last_screened,days_since_screening,overdue_days,"
           "positive_needs\n";
    int i = 0;
    for (const Due& d : due) {
      out << ++i << ",Patient/" << d.patient << "," << d.reasons.front() << "," << Join(d.reasons)
          << "," << d.last_screened << "," << (d.days_since < 0 ? "" : std::to_string(d.days_since))
          << "," << (d.overdue_days < 0 ? "" : std::to_string(d.overdue_days)) << ",\""
          << d.positive_needs << "\"\n";
    }
    return;
  }
  int i = 0;
  for (const Due& d : due) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("rank");
    w.Int(++i);
    w.Key("patient");
    w.String(("Patient/" + d.patient).c_str());
    w.Key("reason");
    w.String(d.reasons.front().c_str());
    w.Key("reasons");
    w.StartArray();
    for (const std::string& r : d.reasons) w.String(r.c_str());
    w.EndArray();
    if (!d.last_screened.empty()) {
      w.Key("last_screened");
      w.String(d.last_screened.c_str());
      w.Key("days_since_screening");
      w.Int64(d.days_since);
    }
    if (d.overdue_days >= 0) {
      w.Key("overdue_days");
      w.Int64(d.overdue_days);
    }
    if (!d.positive_needs.empty()) {
      w.Key("positive_needs");
      w.String(d.positive_needs.c_str());
    }
    w.EndObject();
    out << sb.GetString() << "\n";
  }
}

}  // namespace

int OutreachCommand(const OutreachOptions& o, std::ostream& out, std::ostream& err) {
  if (o.format != "ndjson" && o.format != "csv") {
    err << "sdoh-bridge: --format must be ndjson or csv, got '" << o.format << "'\n";
    return 2;
  }
  auto pipeline = LoadCommandPipeline(o.config_path, o.source, "", err);
  if (!pipeline) return 2;
  Pipeline& p = *pipeline;
  fhir::InstantMicros as_of = fhir::NowMicros();
  if (!o.as_of.empty()) {
    auto t = fhir::ParseFhirDateTime(o.as_of, p.config.time_zone);
    if (!t) {
      err << "sdoh-bridge: --as-of must be a FHIR dateTime, got '" << o.as_of << "'\n";
      return 2;
    }
    as_of = *t;
  }
  auto source = Source::Open(p.config);
  if (!source.ok()) {
    err << "sdoh-bridge: config error: " << source.status().message() << "\n";
    return 2;
  }
  if (o.write && !(*source)->is_server()) {
    err << "sdoh-bridge: outreach --write needs a FHIR server as the source\n";
    return 2;
  }
  fhir::Store& store = (*source)->store();
  PassOptions po;
  po.now = as_of;
  po.plan_referrals = false;
  Pass pass(p, po);
  if (fhir::Status s = pass.Read(store); !s.ok()) {
    err << "sdoh-bridge: reading " << store.Describe() << " failed: " << s.message() << "\n";
    return 1;
  }
  OutreachSink sink(pass.collector().pass_catalog(), as_of, p.config.outreach.rescreen_after_days);
  pass.Evaluate(sink);
  std::stable_sort(sink.due.begin(), sink.due.end(), [](const Due& a, const Due& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.overdue_days != b.overdue_days) return a.overdue_days > b.overdue_days;
    return a.patient < b.patient;
  });
  Write(sink.due, o.format, out);
  if (!o.write) return 0;
  std::vector<OutreachDue> due;
  due.reserve(sink.due.size());
  for (const Due& d : sink.due) due.push_back({d.patient, d.last_screened});
  return WriteOutreachTasks(p.config, due, fhir::NowMicros(), err);
}

namespace {

constexpr const char* kOutreachUsage =
    R"(Usage: sdoh-bridge outreach [--config FILE] [--source DIR|URL] [--as-of DATE]
                          [--format ndjson|csv] [--write]

Who is due for screening (read-only): the active, living patients never screened (first those
with a positive need from elsewhere, such as an interpreter statement), with an incomplete
safety screen, screened longer ago than outreach.rescreen_after_days (default 365; most overdue
first), or with declined answers. One line per patient: rank, reason, every reason, the newest
screening and how many days ago, days overdue.
--write (a FHIR server source): one SDOHCC patient Task (complete-questionnaire, the form
outreach.questionnaire) per due patient, exactly once; our open ones no longer due are
withdrawn (cancelled). Counts on stderr.
Exit codes: 0 done; 1 the source cannot be read; 2 usage or config error.
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

int RunOutreachCommand(const std::vector<std::string>& args) {
  OutreachOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kOutreachUsage;
      return 0;
    }
    bool ok = false;
    if (a.rfind("--config", 0) == 0) {
      ok = Value(args, i, "--config", &o.config_path);
    } else if (a.rfind("--source", 0) == 0) {
      ok = Value(args, i, "--source", &o.source);
    } else if (a.rfind("--as-of", 0) == 0) {
      ok = Value(args, i, "--as-of", &o.as_of);
    } else if (a.rfind("--format", 0) == 0) {
      ok = Value(args, i, "--format", &o.format);
    } else if (a == "--write") {
      o.write = true;
      ok = true;
    }
    if (!ok) {
      std::cerr << "sdoh-bridge: bad option '" << a << "'\n\n" << kOutreachUsage;
      return 2;
    }
  }
  return OutreachCommand(o, std::cout, std::cerr);
}

}  // namespace sdoh
