// fhir::Store over a FHIR Bulk Data `$export` (issue 16). ReadAll runs (or resumes) one export:
// kick-off, status polling, downloads with bounded parallelism into a spool folder (mode 0700,
// files 0600: the pipeline wants the types in its order, a server writes them in its own), then
// each requested type's files through the NDJSON folder store's reader (ReadNdjsonFile), the
// status URL DELETEd and the spool removed.
//
// Resumable: the resume state (options.resume: the ledger file, else the spool's "export.state")
// keeps the kick-off URL, the status URL and which files were downloaded whole; the spool keeps
// every such file (written as ".part", renamed when whole). A rerun after a crash polls the same
// status URL: when it still answers, files already there are not fetched again; when it does
// not (404/410, or a different kick-off), the spool is cleared and the export starts over. The
// pass reads the whole spool either way, so nothing is read twice.
//
// Incremental (`since` set and a `completion` RestStore given): the `_since` export says only
// which patients changed; each such patient is then read in full by the search path
// (RestStore::ReadPatients), so a rescreen is never judged without its history.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fhir/client/bulk_export.h"
#include "fhir/client/rest_store.h"
#include "fhir/ndjson_folder_store.h"
#include "fhir/store.h"

namespace fhir::client {

// Where an export's resume state is kept between runs (the ledger file: plugin/writeback/
// bulk_resume_ledger.h), for one (server, level or Group) key. Without one, the spool's
// "export.state" file keeps the kick-off and status URLs.
struct BulkResumeState {
  std::string kickoff;                // the kick-off request (URL with its parameters)
  std::string status_url;             // "" when no export is under way
  std::vector<std::string> consumed;  // spool file names downloaded whole
  std::string transaction_time;       // the last completed export's (next `_since`)
};
class BulkResume {
 public:
  virtual ~BulkResume() = default;
  virtual Result<BulkResumeState> Load() = 0;  // an empty state when none was kept
  // Kick-off, status URL and consumed files (the transaction time is set by the caller, when
  // what was read has been acted on: CommitTransactionTime).
  virtual Status SaveExport(const BulkResumeState& state) = 0;
  virtual Status CommitTransactionTime(const std::string& transaction_time) = 0;
};

struct BulkStoreOptions {
  BulkExportOptions export_options;
  std::string spool_dir;       // REQUIRED
  int parallel_downloads = 2;  // files fetched at once
  int file_attempts = 4;       // per file, after the transport's own retries (expired links)
  bool progress = false;       // a progress line on stderr (callers: only on a terminal)
  NdjsonFolderStore::Options ndjson;
  RestStore* completion = nullptr;  // with export_options.since: per-patient completion
  BulkResume* resume = nullptr;     // resume state; null: the spool's "export.state" file
};

class BulkStore : public fhir::Store {
 public:
  const BulkStoreOptions& options() const { return options_; }
  // REQUIRES: client (and options.completion) outlive the store.
  BulkStore(FhirClient* client, BulkStoreOptions options);

  Status ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) override;
  std::string Describe() const override;
  StoreStats stats() const override { return stats_; }

  // The manifest's transactionTime: the `_since` of the next export.
  const std::string& transaction_time() const { return manifest_.transaction_time; }
  // Resources listed in the manifest's `deleted` files ("Type/id").
  const std::vector<std::string>& deleted() const { return deleted_; }
  // Of those (incremental pass): how many were tied to a patient (read again in full), and how
  // many screenings could not be (no earlier version readable): counted, not retractable here.
  uint64_t deleted_patients_found() const { return deleted_patients_found_; }
  uint64_t deleted_without_patient() const { return deleted_without_patient_; }
  // OperationOutcome lines in the manifest's `error` files, and the first one's text.
  uint64_t error_count() const { return error_count_; }
  const std::string& first_error() const { return first_error_; }
  uint64_t files_downloaded() const { return files_downloaded_; }
  uint64_t files_resumed() const { return files_resumed_; }
  uint64_t requests() const { return exporter_.requests(); }
  bool type_filter_dropped() const { return exporter_.type_filter_dropped(); }
  bool type_filter_sent() const { return exporter_.type_filter_sent(); }
  bool kickoff_posted() const { return exporter_.kickoff_posted(); }
  uint64_t changed_patients() const { return changed_patients_; }
  const std::string& since() const { return options_.export_options.since; }

 private:
  struct Entry {
    std::string kind;  // output | deleted | error
    BulkFile file;
    std::string path;  // spool file
  };
  Status StartOrResume();            // state file, kick-off or resume, manifest
  Status DownloadAll();              // every entry not yet in the spool
  Status DownloadOne(size_t index);  // with expired-link refresh
  Status RefreshLinks();             // poll the status URL again for fresh links
  Status ReadDeletedAndErrors();
  Status ReadOutput(const std::vector<std::string>& types, ResourceVisitor& visitor);
  // The patient a deleted "Type/id" belonged to (a Patient itself, else from the resource's
  // instance history); "" when it cannot be told.
  std::string PatientOfDeleted(const std::string& reference);
  void Finish();  // DELETE status URL, remove the spool
  void ClearSpool();

  FhirClient* client_;
  BulkStoreOptions options_;
  BulkExportClient exporter_;
  std::string status_url_;
  BulkManifest manifest_;
  std::vector<Entry> entries_;
  std::mutex mu_;                 // entries_ URLs during downloads, resume_state_
  BulkResumeState resume_state_;  // with options_.resume: what is kept there
  StoreStats stats_;
  std::vector<std::string> deleted_;
  uint64_t error_count_ = 0;
  std::string first_error_;
  uint64_t files_downloaded_ = 0;
  uint64_t files_resumed_ = 0;
  uint64_t changed_patients_ = 0;
  uint64_t deleted_patients_found_ = 0;
  uint64_t deleted_without_patient_ = 0;
};

}  // namespace fhir::client
