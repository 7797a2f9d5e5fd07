#include "plugin/commands/run_job.h"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <ostream>
#include <random>
#include <set>

#include <unistd.h>

#include "fhir/ndjson_parallel.h"
#include "plugin/outputs/folder_outputs.h"
#include "plugin/outputs/run_summary.h"
#include "plugin/pass/directory_source.h"
#include "plugin/pass/evaluate_pass.h"
#include "plugin/pass/source.h"
#include "plugin/setup/fhir_section.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/bulk_resume_ledger.h"
#include "plugin/writeback/feedback_store.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/server_writeback.h"

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

// Hands each patient to the folder outputs and, with a server, to writeback.
class RunSink : public PassSink {
 public:
  RunSink(FolderOutputs& outputs, Writeback* writeback, DirectoryTally* directory)
      : outputs_(outputs), writeback_(writeback), directory_(directory) {}
  void Prepare(PatientResult& result) const override { outputs_.Prepare(result); }
  void OnPatient(PatientResult& result) override {
    outputs_.OnPatient(result);
    if (directory_ != nullptr) {
      for (const ReferralPlan& plan : result.plans) {
        if (!plan.directory.consulted) continue;
        ++(plan.directory.service.empty() ? directory_->fallback : directory_->chosen);
      }
    }
    if (writeback_ == nullptr) return;
    PatientPass pass;
    pass.patient_id = result.record.id;
    pass.flags = std::move(result.flags);
    pass.plans = std::move(result.plans);
    writeback_->AddPatient(std::move(pass));
  }

 private:
  FolderOutputs& outputs_;
  Writeback* writeback_;
  DirectoryTally* directory_;
};

// The run's clock: --now, else the system clock. nullopt when --now is not a FHIR dateTime.
std::optional<fhir::InstantMicros> RunClock(const std::string& now) {
  if (now.empty()) return fhir::NowMicros();
  return fhir::ParseFhirDateTime(now, fhir::TimeZone::Utc());
}

// With a server source and a writeback factory: the writeback for this pass, begun (ledger
// locked, interrupted run reconciled, the read's `since` set). Exit code on failure.
int BeginWriteback(const RunOptions& options, const Pipeline& p, Source& source,
                   const std::string& run_id, fhir::InstantMicros now,
                   std::unique_ptr<Writeback>* writeback, std::ostream& err) {
  fhir::client::RestStoreOptions& ro = source.rest_options();
  ro.since = options.since;
  ro.refetch_changed_patients = true;  // an incremental pass re-reads changed patients whole
  if (options.writeback == nullptr) return 0;
  WritebackContext wctx{
      &p.config,     p.catalog.get(), source.client(),    run_id, now, options.dry_run,
      options.since, options.full,    options.allow_large};
  wctx.rebind_ledger = options.rebind_ledger;
  auto wb = options.writeback(wctx);
  if (!wb.ok()) {
    err << "sdoh-bridge: " << wb.status().message() << "\n";
    return 1;
  }
  *writeback = std::move(*wb);
  if (fhir::Status s = (*writeback)->Begin(&ro.since); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    if (s.code() == fhir::Status::Code::kInvalidArgument) {
      err << "sdoh-bridge: config error in " << p.config.path << "\n";
      return 2;
    }
    return s.code() == fhir::Status::Code::kFailedPrecondition ? 4 : 1;
  }
  return 0;
}

// The declines in force at `now` recorded in the ledger file (none when it does not exist
// yet). A server pass honours those given for its server (or for none); a folder pass all.
int LoadRunDeclines(const Config& config, bool server, fhir::InstantMicros now, Declines* declines,
                    std::ostream& err) {
  auto store = writeback::FeedbackStore::Open(writeback::LedgerPath(config), false);
  if (!store.ok()) {
    if (store.status().code() == fhir::Status::Code::kNotFound) return 0;
    err << "sdoh-bridge: " << store.status().message() << "\n";
    return 1;
  }
  auto loaded = (*store)->LoadDeclines(server ? config.source : std::string(),
                                       config.writeback.declined_days, now);
  if (!loaded.ok()) {
    err << "sdoh-bridge: " << loaded.status().message() << "\n";
    return 1;
  }
  *declines = std::move(*loaded);
  return 0;
}

// The referrals our loop saw completed (issue 15 item 1), from the ledger file: a server pass
// only (the loop follows the Tasks of the server the ledger is bound to).
int LoadRunCompletions(const Config& config, Completions* completions, std::ostream& err) {
  writeback::Ledger ledger;
  fhir::Status s = ledger.OpenForReading(writeback::LedgerPath(config));
  if (s.code() == fhir::Status::Code::kNotFound) return 0;
  if (!s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  for (const writeback::LoopRow& row : ledger.LoopRows()) {
    if (row.status != "completed") continue;
    auto at = fhir::ParseFhirDateTime(row.status_since, fhir::TimeZone::Utc());
    if (at) completions->Add(row.patient, row.need, *at);
  }
  return 0;
}

// `_typeFilter` narrowing Observations to the catalog's screening codes (every instrument's
// panel and question codes; LOINC-shaped ones with the LOINC system), one value:
// "Observation?code=http://loinc.org|71802-3,...". Empty when the catalog has no codes.
std::string ScreeningTypeFilter(const Catalog& catalog) {
  std::set<std::string> codes;
  for (const Instrument& i : catalog.instruments()) {
    for (const std::string& c : i.panel_codes) codes.insert(c);
    for (CodeId q : i.questions) codes.insert(std::string(catalog.codes().Name(q)));
  }
  std::string list;
  for (const std::string& c : codes) {
    if (c.empty()) continue;
    list += (list.empty() ? "" : ",") + (IsLoincShaped(c) ? "http://loinc.org|" + c : c);
  }
  return list.empty() ? "" : "Observation?code=" + list;
}

// `run --bulk`: the export's options from `fhir.bulk:` (--group overrides level and group),
// spool under the out folder, a progress line only on a terminal.
fhir::client::BulkStoreOptions BulkOptions(const RunOptions& options, const Config& config,
                                           const Catalog& catalog, const BulkSettings& settings) {
  fhir::client::BulkStoreOptions bo;
  bo.export_options.level = settings.level;
  bo.export_options.group_id = settings.group;
  if (!options.bulk_group.empty()) {
    bo.export_options.level = "group";
    bo.export_options.group_id = options.bulk_group;
  }
  bo.export_options.type_filter = settings.type_filter;
  if (settings.type_filter != "off") {
    if (std::string f = ScreeningTypeFilter(catalog); !f.empty()) {
      bo.export_options.type_filters.push_back(std::move(f));
    }
  }
  bo.export_options.kickoff = settings.kickoff;
  bo.export_options.max_retry_after = std::chrono::seconds(settings.max_retry_after_seconds);
  bo.parallel_downloads = static_cast<int>(settings.download_parallelism);
  bo.spool_dir = config.out + "/.bulk-spool";
  bo.progress = ::isatty(STDERR_FILENO) == 1;
  return bo;
}

// What the export said besides the resources: error files, deletions, resumed files.
void ReportBulk(const fhir::client::BulkStore& bulk, std::ostream& err) {
  err << "bulk export: " << bulk.files_downloaded() << " files downloaded, " << bulk.files_resumed()
      << " resumed, " << bulk.requests() << " requests, transactionTime " << bulk.transaction_time()
      << "\n";
  if (!bulk.since().empty()) {
    err << "bulk export: incremental (_since " << bulk.since() << "): " << bulk.changed_patients()
        << " changed patient(s) read in full\n";
  }
  if (bulk.type_filter_dropped()) {
    err << "bulk export: the server refused _typeFilter; the export was unfiltered\n";
  } else if (bulk.type_filter_sent()) {
    err << "bulk export: Observations narrowed to the screening codes (_typeFilter)\n";
  }
  if (bulk.kickoff_posted()) err << "bulk export: kick-off sent as POST (Parameters)\n";
  if (bulk.error_count() > 0) {
    err << "bulk export: warning: the server reported " << bulk.error_count()
        << " error(s) in the export's error files (first: " << bulk.first_error() << ")\n";
  }
  if (!bulk.deleted().empty()) {
    err << "bulk export: " << bulk.deleted().size() << " deleted resource(s) listed, "
        << bulk.deleted_patients_found()
        << " tied to a patient (read again in full: what only they justified is retracted)\n";
  }
  if (bulk.deleted_without_patient() > 0) {
    err << "bulk export: warning: " << bulk.deleted_without_patient()
        << " deleted resource(s) could not be tied to a patient (no earlier version readable): "
           "counted, not retractable by this pass; run --full to retract what they justified\n";
  }
}

// `run --bulk`: the export's settings from `fhir.bulk:` and the command line, its resume state
// and next `_since` in the ledger file per (server, level or Group), the source switched to it.
int UseBulk(const RunOptions& options, const Pipeline& p, Source& source,
            std::unique_ptr<writeback::BulkResumeLedger>* bulk_resume, std::ostream& err) {
  if (!source.is_server()) {
    err << "sdoh-bridge: --bulk needs a FHIR server as the source\n";
    return 2;
  }
  auto settings = BulkSettingsFromConfig(p.config);
  if (!settings.ok()) {
    err << "sdoh-bridge: config error: " << settings.status().message() << "\n";
    return 2;
  }
  fhir::client::BulkStoreOptions bo = BulkOptions(options, p.config, *p.catalog, *settings);
  const std::string scope = bo.export_options.level == "group"
                                ? "Group/" + bo.export_options.group_id
                                : bo.export_options.level;
  auto resume = writeback::BulkResumeLedger::Open(writeback::LedgerPath(p.config),
                                                  source.client()->base_url(), scope);
  if (!resume.ok()) {
    err << "sdoh-bridge: " << resume.status().message() << "\n";
    return 1;
  }
  *bulk_resume = std::move(*resume);
  bo.resume = bulk_resume->get();
  source.UseBulk(std::move(bo));
  return 0;
}

// An incremental `--bulk` pass exports `_since` the transaction time of the last completed
// export of the same server and level or Group (none yet: everything), not the search path's
// per-server cursor: a Group's export says nothing about the rest of the server.
int BulkSince(const RunOptions& options, writeback::BulkResumeLedger& resume,
              fhir::client::RestStoreOptions* ro, std::ostream& err) {
  if (!options.since.empty() || options.full || ro->since.empty()) return 0;
  auto state = resume.Load();
  if (!state.ok()) {
    err << "sdoh-bridge: " << state.status().message() << "\n";
    return 1;
  }
  ro->since = state->transaction_time;
  return 0;
}

void AddDirectoryCounts(const Directory& directory, RunCounts* counts) {
  const RunCounts& dc = directory.counts();
  for (const auto& [reason, n] : dc.skipped) counts->skipped[reason] += n;
  for (const SkipRecord& r : dc.skip_examples) {
    if (counts->skip_examples.size() < RunCounts::kMaxSkipExamples) {
      counts->skip_examples.push_back(r);
    }
  }
}

// What a pass reads from the ledger file and the directory besides the source.
struct PassInputs {
  Declines declines;                     // CDS feedback in force (issue 14 item 7)
  Completions completions;               // referrals the performer completed (issue 15 item 1)
  std::unique_ptr<Directory> directory;  // issue 15 item 3; null: none configured
  RejectedPerformers rejected;           // with a directory: who rejected whom before
  DirectoryTally tally;
};

int LoadPassInputs(const Config& config, bool server, fhir::InstantMicros now, PassInputs* in,
                   std::ostream& err) {
  if (int code = LoadRunDeclines(config, server, now, &in->declines, err); code) return code;
  if (server) {
    if (int code = LoadRunCompletions(config, &in->completions, err); code) return code;
  }
  if (int code = LoadDirectoryInputs(config, &in->directory, &in->rejected, err); code) {
    return code;
  }
  if (!in->directory) return 0;
  in->tally.source = in->directory->source;
  in->tally.services = in->directory->services().size();
  return 0;
}

}  // namespace

int LoadDirectoryInputs(const Config& config, std::unique_ptr<Directory>* directory,
                        RejectedPerformers* rejected, std::ostream& err) {
  auto loaded_directory = LoadServiceDirectory(config);
  if (!loaded_directory.ok()) {
    err << "sdoh-bridge: " << loaded_directory.status().message() << "\n";
    return loaded_directory.status().code() == fhir::Status::Code::kInvalidArgument ? 2 : 1;
  }
  *directory = std::move(*loaded_directory);
  if (!*directory) return 0;
  auto loaded = writeback::LoadRejectedPerformers(writeback::LedgerPath(config));
  if (!loaded.ok()) {
    err << "sdoh-bridge: " << loaded.status().message() << "\n";
    return 1;
  }
  *rejected = std::move(*loaded);
  return 0;
}

int RunJob(const RunOptions& options, std::ostream& out, std::ostream& err) {
  auto pipeline = LoadCommandPipeline(options.config_path, options.source, options.out, err);
  if (!pipeline) return 2;
  Pipeline& p = *pipeline;
  if (options.threads > 0) p.config.threads = options.threads;
  const std::optional<fhir::InstantMicros> now = RunClock(options.now);
  if (!now) {
    err << "sdoh-bridge: --now must be a FHIR dateTime, got '" << options.now << "'\n";
    return 2;
  }
  const std::string run_id = NewRunId(*now);
  if (fhir::Status s = EnsureDirectory(p.config.out); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  auto source = Source::Open(p.config);
  if (!source.ok()) {
    err << "sdoh-bridge: config error: " << source.status().message() << "\n";
    return 2;
  }
  std::unique_ptr<writeback::BulkResumeLedger> bulk_resume;
  if (options.bulk) {
    if (int code = UseBulk(options, p, **source, &bulk_resume, err); code) return code;
  }
  std::unique_ptr<Writeback> writeback;
  if ((*source)->is_server()) {
    if (int code = BeginWriteback(options, p, **source, run_id, *now, &writeback, err); code) {
      return code;
    }
  }
  if (bulk_resume && BulkSince(options, *bulk_resume, &(*source)->rest_options(), err) != 0) {
    return 1;
  }
  fhir::Store& store = (*source)->store();
  FolderOutputs outputs(p.config.out, run_id, p.ruleset.version(), options.dry_run);
  // A writer thread per output file only when the run's threads leave a core for it: at
  // `--threads 2` on two cores a third thread per file made the evaluation slower (issue 17).
  outputs.set_writer_threads((*source)->Threads() < fhir::AvailableCores());
  if (fhir::Status s = outputs.Open(); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }

  PassInputs in;
  if (int code = LoadPassInputs(p.config, (*source)->is_server(), *now, &in, err); code) {
    return code;
  }
  PassOptions po;
  po.now = *now;
  po.threads = (*source)->Threads();
  po.declines = &in.declines;
  po.completions = &in.completions;
  po.directory = in.directory.get();
  po.rejected = &in.rejected;
  Pass pass(p, po);
  const auto t0 = std::chrono::steady_clock::now();
  if (fhir::Status s = pass.Read(store); !s.ok()) {
    err << "sdoh-bridge: reading " << store.Describe() << " failed: " << s.message() << "\n";
    return 1;
  }
  if (fhir::client::BulkStore* bulk = (*source)->bulk()) ReportBulk(*bulk, err);
  RunCounts& counts = pass.counts();
  if ((*source)->folder() != nullptr) counts.missing_files = (*source)->folder()->missing_files();
  const auto t1 = std::chrono::steady_clock::now();
  // Bad directory entries are bad input like any other: counted, named, exit 3.
  if (in.directory) AddDirectoryCounts(*in.directory, &counts);
  RunSink sink(outputs, writeback.get(), in.directory ? &in.tally : nullptr);
  pass.Evaluate(sink);
  int writeback_code = 0;
  if (writeback) {
    std::string members;
    fhir::client::BulkStore* bulk = (*source)->bulk();
    writeback_code = writeback->Finish(
        bulk != nullptr ? bulk->transaction_time() : (*source)->rest()->first_page_server_time(),
        &members, out, err);
    if (options.dry_run) outputs.ClosePlan(members);
    if (bulk != nullptr && bulk_resume && writeback_code == 0 && !options.dry_run) {
      // Acted on: the next pass exports from here.
      if (fhir::Status s = bulk_resume->CommitTransactionTime(bulk->transaction_time()); !s.ok()) {
        err << "sdoh-bridge: " << s.message() << "\n";
        writeback_code = 1;
      }
    }
  }
  const auto t2 = std::chrono::steady_clock::now();
  if (std::getenv("SDOH_TIMING") != nullptr) {
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    err << "timing: read+normalise " << ms(t1 - t0) << " ms, rules+plan+write " << ms(t2 - t1)
        << " ms\n";
  }

  RunSummary summary;
  summary.run_id = run_id;
  summary.started = fhir::FormatInstantUtc(*now);
  summary.source = store.Describe();
  summary.bytes_read = store.stats().bytes;
  summary.dry_run = options.dry_run;
  summary.ruleset_id = p.ruleset.id();
  summary.ruleset_version = p.ruleset.version();
  summary.threads = po.threads;
  summary.out_dir = p.config.out;
  summary.counts = &counts;
  summary.tally = &outputs.tally();
  summary.forms = &pass.collector().forms();
  summary.catalog = p.catalog.get();
  if (in.directory) summary.directory = &in.tally;
  // A QuestionnaireResponse of a form that could be neither mapped nor inferred may have been a
  // screening: never dropped quietly (issue 14 item 5b).
  const bool dropped = summary.forms->DroppedResponses() > 0;
  summary.exit_code = writeback_code != 0 ? 1 : (counts.TotalSkipped() > 0 || dropped) ? 3 : 0;
  if (fhir::Status s = outputs.Commit(SummaryJson(summary)); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  PrintSummary(summary, out);
  return summary.exit_code;
}

}  // namespace sdoh
