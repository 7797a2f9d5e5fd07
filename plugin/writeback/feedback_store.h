// CDS Hooks feedback kept in the ledger file (issue 14 item 7): every outcome a clinician sent
// for a card this service issued — `overridden` with its reason, `accepted` with the accepted
// suggestions — as a row of the `cds_feedback` table, by ids and codes only. `run`, `watch`
// and later CDS calls read the overrides back as Declines (plugin/referrals/declines.h): no new
// referral for that (patient, need) for writeback.declined_days.
//
// The table lives in the ledger's SQLite file but is written without the ledger's run lock: a
// feedback row is one INSERT, and SQLite's own locking (WAL, busy timeout) orders it against a
// pass that holds the lock, so `serve` never waits for a run to finish. The file is created
// 0600 when missing; a symlinked ledger is refused, as by Ledger::Open. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "fhir/status.h"
#include "plugin/referrals/declines.h"

struct sqlite3;

namespace sdoh::writeback {

struct FeedbackRow {
  std::string server;  // the CDS call's fhirServer, base without trailing '/' ("" when none)
  std::string card;    // the card uuid
  std::string patient;
  std::string need;
  std::string outcome;     // accepted | overridden
  std::string reason;      // overridden: the overrideReason code ("" when none)
  std::string outcome_at;  // the feedback's outcomeTimestamp, as sent
  std::vector<std::string> accepted_suggestions;  // accepted: suggestion uuids
};

class FeedbackStore {
 public:
  // Opens (creating when `create` and missing) the ledger file at `ledger_path`.
  // NotFound when it is missing and !create; IoError naming the path otherwise.
  static fhir::Result<std::unique_ptr<FeedbackStore>> Open(const std::string& ledger_path,
                                                           bool create);
  ~FeedbackStore();
  FeedbackStore(const FeedbackStore&) = delete;
  FeedbackStore& operator=(const FeedbackStore&) = delete;

  // Records one outcome; the same (card, outcome, outcome_at) sent again is recorded once.
  fhir::Status Record(const FeedbackRow& row);

  // The overrides with a reason that are in force at `now`: decided less than `days` days
  // before it. Only rows of `server` and rows without a server, unless `server` is "" (a pass
  // over a folder: every row). `patient`: that patient only ("" = all).
  fhir::Result<Declines> LoadDeclines(const std::string& server, int days, fhir::InstantMicros now,
                                      const std::string& patient = "");

  // Every recorded outcome of one patient, oldest first (explain).
  fhir::Result<std::vector<FeedbackRow>> ForPatient(const std::string& patient);

 private:
  FeedbackStore() = default;

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::string path_;
};

// `serve`: the store in the ledger file at `ledger_path`, its folder and the file created when
// missing.
fhir::Result<std::unique_ptr<FeedbackStore>> OpenForService(const std::string& ledger_path);

// The feedback base for a server URL: trailing '/' removed.
std::string FeedbackServer(std::string base);

}  // namespace sdoh::writeback
