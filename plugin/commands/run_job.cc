#include "plugin/commands/run_job.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <ostream>
#include <random>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "fhir/client/rest_store.h"
#include "fhir/ndjson_folder_store.h"
#include "fhir/printable.h"
#include "plugin/outputs/output_file.h"
#include "plugin/referrals/referral_planner.h"
#include "plugin/screening/screening_collector.h"
#include "plugin/setup/fhir_section.h"
#include "plugin/setup/pipeline.h"

namespace sdoh {

namespace {

std::string NewRunId(fhir::InstantMicros now) {
  std::string t = fhir::FormatInstantUtc(now);
  std::string compact;
  for (char c : t) {
    if (c != '-' && c != ':') compact += c;
  }
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04x", static_cast<unsigned>(rd() & 0xffff));
  return "run-" + compact + "-" + buf;
}

struct Tally {
  uint64_t patients_read = 0;
  uint64_t patients_screened = 0;
  uint64_t patients_flagged = 0;
  std::map<std::string, uint64_t> flags_by_need;
  std::map<std::string, uint64_t> planned_by_type;
  std::map<std::string, uint64_t> not_planned;
  uint64_t flags = 0;
};

template <typename W, typename Map>
void WriteCounts(W& w, const char* key, const Map& m) {
  w.Key(key);
  w.StartObject();
  for (const auto& [k, v] : m) {
    w.Key(k.c_str());
    w.Uint64(v);
  }
  w.EndObject();
}

}  // namespace

int RunJob(const RunOptions& options, std::ostream& out, std::ostream& err) {
  const std::string config_path =
      options.config_path.empty() ? DefaultConfigPath() : options.config_path;
  auto pipeline = LoadPipeline(config_path);
  if (!pipeline.ok()) {
    err << "sdoh-bridge: config error: " << pipeline.status().message() << "\n";
    return 2;
  }
  Pipeline& p = *pipeline;
  if (!options.source.empty()) p.config.source = options.source;
  if (!options.out.empty()) p.config.out = options.out;

  fhir::InstantMicros now = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  if (!options.now.empty()) {
    auto t = fhir::ParseFhirDateTime(options.now, fhir::TimeZone::Utc());
    if (!t) {
      err << "sdoh-bridge: --now must be a FHIR dateTime, got '" << options.now << "'\n";
      return 2;
    }
    now = *t;
  }
  const std::string run_id = NewRunId(now);

  // The store: a FHIR server (REST, paged searches) or an NDJSON folder.
  std::unique_ptr<fhir::Store> store_owner;
  fhir::NdjsonFolderStore* folder = nullptr;
  fhir::client::RestStore* rest = nullptr;
  fhir::client::Client client;
  std::unique_ptr<Writeback> writeback;
  if (fhir::Status s = EnsureDirectory(p.config.out); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  if (IsServerSource(p.config.source)) {
    auto source = BuildServerSource(p.config, &client);
    if (!source.ok()) {
      err << "sdoh-bridge: config error: " << source.status().message() << "\n";
      return 2;
    }
    fhir::client::RestStoreOptions ro = *source;
    ro.since = options.since;
    ro.refetch_changed_patients = true;  // an incremental pass re-reads changed patients whole
    if (options.writeback != nullptr) {
      WritebackContext wctx{&p.config, p.catalog.get(), client.fhir.get(), run_id,
                            now,       options.dry_run, options.since,     options.full};
      auto wb = options.writeback(wctx);
      if (!wb.ok()) {
        err << "sdoh-bridge: " << wb.status().message() << "\n";
        return 1;
      }
      writeback = std::move(*wb);
      if (fhir::Status s = writeback->Begin(&ro.since); !s.ok()) {
        err << "sdoh-bridge: " << s.message() << "\n";
        if (s.code() == fhir::Status::Code::kInvalidArgument) {
          err << "sdoh-bridge: config error in " << config_path << "\n";
          return 2;
        }
        return s.code() == fhir::Status::Code::kFailedPrecondition ? 4 : 1;
      }
    }
    auto rs = std::make_unique<fhir::client::RestStore>(client.fhir.get(), ro);
    rest = rs.get();
    store_owner = std::move(rs);
  } else {
    auto f = std::make_unique<fhir::NdjsonFolderStore>(
        p.config.source,
        fhir::NdjsonFolderStore::Options{p.config.max_line_bytes, p.config.max_depth});
    folder = f.get();
    store_owner = std::move(f);
  }
  fhir::Store& store = *store_owner;

  namespace fs = std::filesystem;
  auto out_path = [&](const char* name) { return (fs::path(p.config.out) / name).string(); };
  OutputFile flags_file(out_path("flags.ndjson"));
  OutputFile plan_file(out_path("plan.json"));
  std::map<std::string, std::unique_ptr<OutputFile>> resource_files;
  std::vector<OutputFile*> to_commit{&flags_file};
  if (fhir::Status s = flags_file.Open(); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  if (options.dry_run) {
    if (fhir::Status s = plan_file.Open(); !s.ok()) {
      err << "sdoh-bridge: " << s.message() << "\n";
      return 1;
    }
    to_commit.push_back(&plan_file);
    plan_file.Write("{\"run\":\"" + run_id + "\",\"dry_run\":true,\"referrals\":[\n");
  } else {
    for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
      auto f = std::make_unique<OutputFile>(out_path((std::string(t) + ".ndjson").c_str()));
      if (fhir::Status s = f->Open(); !s.ok()) {
        err << "sdoh-bridge: " << s.message() << "\n";
        return 1;
      }
      to_commit.push_back(f.get());
      resource_files[t] = std::move(f);
    }
  }

  ScreeningOptions sopts;
  sopts.time_zone = p.config.time_zone;
  sopts.ruleset = &p.ruleset;
  sopts.now = now;
  sopts.input = InputPolicyFor(p.config, now);
  ScreeningCollector collector(*p.catalog, sopts);
  const auto t0 = std::chrono::steady_clock::now();
  if (fhir::Status s = store.ReadAll(ScreeningCollector::InputTypes(), collector); !s.ok()) {
    err << "sdoh-bridge: reading " << store.Describe() << " failed: " << s.message() << "\n";
    return 1;
  }
  RunCounts& counts = collector.counts();
  if (folder != nullptr) counts.missing_files = folder->missing_files();

  const auto t1 = std::chrono::steady_clock::now();
  PlanContext ctx{p.catalog.get(), &p.config, p.ruleset.id(), p.ruleset.version(), now};
  Tally tally;
  bool first_plan = true;
  collector.Finish([&](PatientRecord& rec) {
    if (rec.facts.present) ++tally.patients_read;
    if (!rec.counted.empty()) ++tally.patients_screened;
    std::vector<NeedFlag> flags = EvaluatePatient(p.ruleset, *p.catalog, rec);
    if (!flags.empty()) ++tally.patients_flagged;
    PatientPass pass;
    pass.patient_id = rec.id;
    for (const NeedFlag& f : flags) {
      ++tally.flags;
      ++tally.flags_by_need[f.need];
      flags_file.WriteLine(FlagLine(f, p.ruleset.version()));
      ReferralPlan plan = PlanReferral(f, rec.facts, ctx);
      if (!plan.not_planned.empty()) ++tally.not_planned[plan.not_planned];
      for (const PlannedResource& r : plan.resources) {
        ++tally.planned_by_type[r.type];
        if (!options.dry_run) resource_files[r.type]->WriteLine(r.json);
      }
      if (options.dry_run) {
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        w.StartObject();
        w.Key("patient");
        w.String(("Patient/" + plan.patient_id).c_str());
        w.Key("need");
        w.String(plan.need.c_str());
        w.Key("route");
        w.String(plan.route.c_str());
        w.Key("action");
        w.String(plan.not_planned.empty() ? "create" : "none");
        if (!plan.not_planned.empty()) {
          w.Key("reason");
          w.String(plan.not_planned.c_str());
        }
        w.Key("resources");
        w.StartArray();
        for (const PlannedResource& r : plan.resources) {
          w.StartObject();
          w.Key("type");
          w.String(r.type.c_str());
          w.Key("identifier");
          w.String(r.identifier.c_str());
          w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        plan_file.Write(first_plan ? "" : ",\n");
        plan_file.Write(sb.GetString());
        first_plan = false;
      }
      if (writeback) {
        pass.flags.push_back(f);
        pass.plans.push_back(std::move(plan));
      }
    }
    if (writeback) writeback->AddPatient(std::move(pass));
  });
  int writeback_code = 0;
  bool plan_closed = false;
  if (writeback) {
    std::string members;
    writeback_code = writeback->Finish(rest->first_page_server_time(), &members, out, err);
    if (options.dry_run && !members.empty()) {
      plan_file.Write("\n],\n" + members + "}\n");
      plan_closed = true;
    }
  }
  if (options.dry_run && !plan_closed) plan_file.Write("\n]}\n");
  const auto t2 = std::chrono::steady_clock::now();
  if (std::getenv("SDOH_TIMING") != nullptr) {
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    err << "timing: read+normalise " << ms(t1 - t0) << " ms, rules+plan+write " << ms(t2 - t1)
        << " ms\n";
  }

  const uint64_t skipped = counts.TotalSkipped();
  const int exit_code = writeback_code != 0 ? 1 : skipped > 0 ? 3 : 0;

  // summary.json
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("run");
  w.String(run_id.c_str());
  w.Key("started");
  w.String(fhir::FormatInstantUtc(now).c_str());
  w.Key("source");
  w.String(store.Describe().c_str());
  w.Key("dry_run");
  w.Bool(options.dry_run);
  w.Key("ruleset");
  w.StartObject();
  w.Key("id");
  w.String(p.ruleset.id().c_str());
  w.Key("version");
  w.String(p.ruleset.version().c_str());
  w.EndObject();
  WriteCounts(w, "resources_read", counts.read);
  w.Key("bytes_read");
  w.Uint64(store.stats().bytes);
  w.Key("patients");
  w.StartObject();
  w.Key("read");
  w.Uint64(tally.patients_read);
  w.Key("with_counted_screening");
  w.Uint64(tally.patients_screened);
  w.Key("flagged");
  w.Uint64(tally.patients_flagged);
  w.EndObject();
  w.Key("screenings");
  w.StartObject();
  w.Key("counted");
  w.Uint64(counts.screenings_counted);
  w.Key("member_observations");
  w.Uint64(counts.member_observations);
  w.EndObject();
  WriteCounts(w, "ignored", counts.ignored);
  WriteCounts(w, "skipped", counts.skipped);
  WriteCounts(w, "rule_errors", counts.rule_errors);
  w.Key("skipped_examples");
  w.StartArray();
  for (const SkipRecord& s : counts.skip_examples) {
    w.StartObject();
    w.Key("where");
    w.String(s.where.c_str());
    w.Key("reason");
    w.String(s.reason.c_str());
    w.Key("detail");
    w.String(s.detail.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("missing_inputs");
  w.StartArray();
  for (const auto& m : counts.missing_files) w.String((m + ".ndjson").c_str());
  w.EndArray();
  w.Key("flags");
  w.Uint64(tally.flags);
  WriteCounts(w, "flags_by_need", tally.flags_by_need);
  WriteCounts(w, "resources_planned", tally.planned_by_type);
  WriteCounts(w, "referrals_not_planned", tally.not_planned);
  w.Key("exit_code");
  w.Int(exit_code);
  w.EndObject();
  OutputFile summary_file(out_path("summary.json"));
  to_commit.push_back(&summary_file);
  if (fhir::Status s = summary_file.Open(); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  summary_file.WriteLine(sb.GetString());
  for (OutputFile* f : to_commit) {
    if (fhir::Status s = f->Commit(); !s.ok()) {
      err << "sdoh-bridge: " << s.message() << "\n";
      return 1;
    }
  }
  if (options.dry_run) {
    // A dry run leaves no stale writeback files that could be mistaken for this run's.
    for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
      std::error_code ec;
      fs::remove(out_path((std::string(t) + ".ndjson").c_str()), ec);
    }
  }

  // The readable summary.
  out << "sdoh-bridge " << (options.dry_run ? "dry run " : "run ") << run_id << "\n";
  out << "  source      " << fhir::Printable(store.Describe(), 1024) << " (" << store.stats().bytes
      << " bytes)\n";
  out << "  rules       " << p.ruleset.id() << " " << p.ruleset.version() << "\n";
  out << "  read       ";
  for (const auto& [t, n] : counts.read) out << " " << t << " " << n;
  out << "\n";
  out << "  patients    " << tally.patients_read << " read, " << tally.patients_screened
      << " with a counted screening, " << tally.patients_flagged << " flagged\n";
  out << "  screenings  " << counts.screenings_counted << " counted, " << counts.TotalIgnored()
      << " resources ignored\n";
  for (const auto& [k, v] : counts.ignored) out << "      ignored  " << v << "  " << k << "\n";
  out << "  flags       " << tally.flags << "\n";
  for (const auto& [k, v] : tally.flags_by_need) out << "      " << k << "  " << v << "\n";
  out << "  planned    ";
  if (tally.planned_by_type.empty()) out << " nothing";
  for (const auto& [k, v] : tally.planned_by_type) out << " " << k << " " << v;
  out << (options.dry_run ? "  (dry run: nothing written but plan.json)" : "") << "\n";
  for (const auto& [k, v] : tally.not_planned) {
    out << "      no referral  " << v << "  " << k << "\n";
  }
  out << "  skipped     " << skipped << (skipped ? " unreadable inputs" : "") << "\n";
  for (const auto& [k, v] : counts.skipped) out << "      " << k << "  " << v << "\n";
  size_t shown = 0;
  for (const SkipRecord& s : counts.skip_examples) {
    if (shown++ == 10) break;
    out << "      " << fhir::Printable(s.where, 1024) << ": " << s.reason << ": "
        << fhir::Printable(s.detail) << "\n";
  }
  for (const auto& m : counts.missing_files)
    out << "  note        no " << m << ".ndjson in the source\n";
  for (const auto& [k, v] : counts.rule_errors) out << "  rule error  " << v << "  " << k << "\n";
  out << "  out         " << fhir::Printable(p.config.out, 1024) << "\n";
  return exit_code;
}

}  // namespace sdoh
