// Writeback's pure parts and local state: suppression policy, Flag decisions, transaction
// Bundles, the ledger (lock, mode 0600, states, cursor), the audit log, the config keys.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "plugin/setup/config.h"
#include "plugin/writeback/audit_log.h"
#include "plugin/writeback/feedback_store.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/referral_policy.h"
#include "plugin/writeback/transaction_bundle.h"

namespace sdoh::writeback {
namespace {

namespace fs = std::filesystem;
constexpr fhir::InstantMicros kDay = 86400LL * 1000000LL;

fhir::InstantMicros T(const char* s) { return *fhir::ParseFhirDateTime(s, fhir::TimeZone::Utc()); }

ServerResource Sr(std::string id, std::string status, std::string domain, const char* updated,
                  std::string identifier = "") {
  ServerResource r;
  r.type = "ServiceRequest";
  r.id = std::move(id);
  r.status = std::move(status);
  r.categories = {"sdoh", "410606002", std::move(domain)};
  r.last_updated = T(updated);
  r.authored = r.last_updated;
  r.identifier = std::move(identifier);
  return r;
}

ServerResource Task(std::string id, std::string status, std::string focus, const char* updated) {
  ServerResource r;
  r.type = "Task";
  r.id = std::move(id);
  r.status = std::move(status);
  r.focus = std::move(focus);
  r.last_updated = T(updated);
  return r;
}

ReferralQuery Query(const char* now, const char* screened, int days = 30) {
  ReferralQuery q;
  q.sr_identifier = "food-0123456789abcdef0123456789abcdef";
  q.task_identifier = q.sr_identifier + "-task";
  q.domain_code = "food-insecurity";
  q.screened_at = T(screened);
  q.now = T(now);
  q.suppression_days = days;
  return q;
}

TEST(ReferralPolicyTest, NothingOnTheServerCreates) {
  EXPECT_EQ(DecideReferral(Query("2024-06-01", "2024-05-01"), {}, {}).action,
            ReferralAction::kCreate);
}

TEST(ReferralPolicyTest, OursAlreadyThereWritesNothingAndAMissingTaskIsCreated) {
  auto q = Query("2024-06-01", "2024-05-01");
  std::vector<ServerResource> srs{
      Sr("1", "active", "food-insecurity", "2024-05-02", q.sr_identifier)};
  auto task = Task("t", "requested", "ServiceRequest/1", "2024-05-02");
  task.identifier = q.task_identifier;
  auto d = DecideReferral(q, srs, {task});
  EXPECT_EQ(d.action, ReferralAction::kExists);
  EXPECT_EQ(d.existing_sr, "ServiceRequest/1");
  EXPECT_EQ(DecideReferral(q, srs, {}).action, ReferralAction::kCreateTask);
  // Revoked stays revoked: a rerun does not re-create it.
  srs[0].status = "revoked";
  EXPECT_EQ(DecideReferral(q, srs, {task}).action, ReferralAction::kExists);
}

TEST(ReferralPolicyTest, OpenReferralOfTheSameNeedByAnyoneSuppresses) {
  for (const char* status : {"draft", "active", "on-hold"}) {
    auto d = DecideReferral(Query("2024-06-01", "2024-05-01"),
                            {Sr("other", status, "food-insecurity", "2024-04-01")}, {});
    EXPECT_EQ(d.action, ReferralAction::kSuppressed) << status;
    EXPECT_NE(d.reason.find("open-referral ServiceRequest/other"), std::string::npos);
  }
  // Another need does not suppress.
  EXPECT_EQ(DecideReferral(Query("2024-06-01", "2024-05-01"),
                           {Sr("other", "active", "housing-instability", "2024-04-01")}, {})
                .action,
            ReferralAction::kCreate);
}

TEST(ReferralPolicyTest, OpenTaskOnAClosedRequestSuppresses) {
  for (const char* status :
       {"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"}) {
    auto d = DecideReferral(Query("2024-09-01", "2024-08-01"),
                            {Sr("s", "completed", "food-insecurity", "2024-01-01")},
                            {Task("t", status, "ServiceRequest/s", "2024-01-01")});
    EXPECT_EQ(d.action, ReferralAction::kSuppressed) << status;
    EXPECT_NE(d.reason.find("open-task Task/t"), std::string::npos) << d.reason;
  }
}

TEST(ReferralPolicyTest, ClosedReferralNeedsANewerScreeningAndNDays) {
  // Rejected 10 days ago, newer positive screening: suppressed under 30 days, allowed under 5.
  std::vector<ServerResource> srs{Sr("s", "active", "food-insecurity", "2024-05-01")};
  srs[0].status = "completed";
  std::vector<ServerResource> tasks{Task("t", "rejected", "ServiceRequest/s", "2024-05-22")};
  auto d = DecideReferral(Query("2024-06-01", "2024-05-25", 30), srs, tasks);
  EXPECT_EQ(d.action, ReferralAction::kSuppressed);
  EXPECT_NE(d.reason.find("less than 30 days"), std::string::npos) << d.reason;
  EXPECT_EQ(DecideReferral(Query("2024-06-01", "2024-05-25", 5), srs, tasks).action,
            ReferralAction::kCreate);
  // A screening not newer than the referral never re-refers.
  auto old = DecideReferral(Query("2024-12-01", "2024-04-01", 5), srs, tasks);
  EXPECT_EQ(old.action, ReferralAction::kSuppressed);
  EXPECT_NE(old.reason.find("no screening newer"), std::string::npos);
  for (const char* status : {"completed", "failed", "cancelled"}) {
    tasks[0].status = status;
    EXPECT_EQ(DecideReferral(Query("2024-06-01", "2024-05-25", 30), srs, tasks).action,
              ReferralAction::kSuppressed)
        << status;
  }
  // A revoked ServiceRequest counts as closed; entered-in-error counts as nothing.
  std::vector<ServerResource> revoked{Sr("r", "revoked", "food-insecurity", "2024-05-30")};
  EXPECT_EQ(DecideReferral(Query("2024-06-01", "2024-05-31", 30), revoked, {}).action,
            ReferralAction::kSuppressed);
  revoked[0].status = "entered-in-error";
  EXPECT_EQ(DecideReferral(Query("2024-06-01", "2024-05-31", 30), revoked, {}).action,
            ReferralAction::kCreate);
}

TEST(FlagDecisionTest, CreateUnchangedUpdateRetracted) {
  const std::string planned =
      R"({"resourceType":"Flag","status":"active","code":{"text":"Food"},"subject":{"reference":"Patient/p"}})";
  EXPECT_EQ(DecideFlag(planned, nullptr), FlagAction::kCreate);
  rapidjson::Document d;
  d.Parse(planned.c_str());
  ServerResource existing = ParseServerResource(d, "urn:x");
  existing.id = "9";
  EXPECT_EQ(DecideFlag(planned, &existing), FlagAction::kUnchanged);
  existing.json = WithStatus(planned, "inactive");
  existing.status = "inactive";
  EXPECT_EQ(DecideFlag(planned, &existing), FlagAction::kUpdate);
  existing.status = "entered-in-error";
  EXPECT_EQ(DecideFlag(planned, &existing), FlagAction::kRetracted);
}

TEST(TransactionBundleTest, ConditionalCreatesWithUrnFocusAndBatches) {
  WriteGroup g{"p1", "food", {}, ""};
  g.entries.push_back(
      {"ServiceRequest", "food-abc", R"({"resourceType":"ServiceRequest","status":"active"})"});
  g.entries.push_back({"Task", "food-abc-task",
                       R"({"resourceType":"Task","focus":{"identifier":{"value":"food-abc"}}})"});
  g.entries.push_back({"Flag", "food-p1", R"({"resourceType":"Flag"})"});
  std::string json = BuildTransaction({&g}, "urn:sys");
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_FALSE(d.HasParseError()) << json;
  EXPECT_STREQ(d["type"].GetString(), "transaction");
  const auto& e = d["entry"];
  ASSERT_EQ(e.Size(), 3u);
  for (const auto& entry : e.GetArray()) {
    EXPECT_STREQ(entry["request"]["method"].GetString(), "POST");
    EXPECT_EQ(
        std::string(entry["request"]["ifNoneExist"].GetString()).rfind("identifier=urn:sys|", 0),
        0u);
  }
  EXPECT_EQ(std::string(e[0]["fullUrl"].GetString()), UrnFor("urn:sys", "food-abc"));
  EXPECT_EQ(std::string(e[1]["resource"]["focus"]["reference"].GetString()),
            UrnFor("urn:sys", "food-abc"));
  EXPECT_FALSE(e[1]["resource"]["focus"].HasMember("identifier"));
  EXPECT_EQ(UrnFor("urn:sys", "food-abc").size(), 45u);
  // Task alone points at the server's ServiceRequest.
  WriteGroup t{"p1", "food", {g.entries[1]}, "ServiceRequest/42"};
  d.Parse(BuildTransaction({&t}, "urn:sys").c_str());
  EXPECT_STREQ(d["entry"][0]["resource"]["focus"]["reference"].GetString(), "ServiceRequest/42");
  // Packing: groups are never split; at most 8 entries per Bundle.
  std::vector<WriteGroup> groups(5, g);  // 5 x 3 entries
  auto batches = PackBatches(groups, 8);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 2u);
  EXPECT_EQ(batches[2].size(), 1u);
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("sdoh-wb-unit-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(LedgerTest, StatesCursorModeAndOneWriterAtATime) {
  TempDir dir;
  const std::string path = (dir.path() / "ledger.sqlite").string();
  {
    Ledger ledger;
    ASSERT_TRUE(ledger.Open(path, 0).ok());
    ASSERT_TRUE(
        ledger.Upsert({"ServiceRequest", "food-1", "p", "food", "sent", "", "", "run-1"}).ok());
    ASSERT_TRUE(
        ledger.Upsert({"Flag", "food-p", "p", "food", "confirmed", "7", "1", "run-1"}).ok());
    EXPECT_EQ(ledger.InState("sent").size(), 1u);
    ASSERT_TRUE(
        ledger.Upsert({"ServiceRequest", "food-1", "p", "food", "confirmed", "5", "1", "run-1"})
            .ok());
    EXPECT_TRUE(ledger.InState("sent").empty());
    EXPECT_EQ(ledger.Find("ServiceRequest", "food-1")->server_id, "5");
    EXPECT_EQ(ledger.ForRun("run-1").size(), 2u);
    EXPECT_TRUE(ledger.Cursor("Patient").empty());
    ASSERT_TRUE(ledger.SetCursor("Patient", "2024-01-01T00:00:00Z", "run-1").ok());
    EXPECT_EQ(ledger.Cursor("Patient"), "2024-01-01T00:00:00Z");

    Ledger second;
    fhir::Status s = second.Open(path, 0);
    EXPECT_EQ(s.code(), fhir::Status::Code::kFailedPrecondition);
    EXPECT_NE(s.message().find("another sdoh-bridge run holds the ledger"), std::string::npos);
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  Ledger again;  // the lock is released with the first
  ASSERT_TRUE(again.Open(path, 0).ok());
  EXPECT_EQ(again.Find("Flag", "food-p")->state, "confirmed");
}

// Issue 14 item 7: CDS feedback in the ledger file, next to a run that holds the ledger lock.
TEST(FeedbackStoreTest, OverridesAreKeptOnceAndReadBackAsDeclinesPerServer) {
  TempDir dir;
  const std::string path = (dir.path() / "ledger.sqlite").string();
  EXPECT_EQ(FeedbackStore::Open(path, false).status().code(), fhir::Status::Code::kNotFound);
  Ledger ledger;  // a run holds the lock: feedback is still recorded
  ASSERT_TRUE(ledger.Open(path, 0).ok());
  auto store = FeedbackStore::Open(path, true);
  ASSERT_TRUE(store.ok()) << store.status().message();
  const std::string a = "https://ehr-a.test/fhir";
  FeedbackRow declined{
      a + "/", "card-1", "p1", "food", "overridden", "patient-declined", "2026-03-01T10:00:00Z",
      {}};
  ASSERT_TRUE((*store)->Record(declined).ok());
  ASSERT_TRUE((*store)->Record(declined).ok());  // sent twice: kept once
  ASSERT_TRUE((*store)
                  ->Record({a,
                            "card-2",
                            "p1",
                            "housing-instability",
                            "accepted",
                            "",
                            "2026-03-01T10:00:00Z",
                            {"s-1"}})
                  .ok());
  ASSERT_TRUE(
      (*store)
          ->Record({a, "card-3", "p2", "food", "overridden", "", "2026-03-01T10:00:00Z", {}})
          .ok());  // no reason: recorded, suppresses nothing
  ASSERT_TRUE((*store)
                  ->Record({"https://ehr-b.test/fhir",
                            "card-4",
                            "p3",
                            "food",
                            "overridden",
                            "already-addressed",
                            "2026-03-01T10:00:00Z",
                            {}})
                  .ok());
  const fhir::InstantMicros day = 86400LL * 1000000LL;
  const fhir::InstantMicros at =
      *fhir::ParseFhirDateTime("2026-03-01T10:00:00Z", fhir::TimeZone::Utc());
  auto in_force = (*store)->LoadDeclines(a, 90, at + 89 * day);
  ASSERT_TRUE(in_force.ok());
  EXPECT_EQ(in_force->size(), 1u) << "server B's override is not server A's";
  const Decline* d = in_force->Find("p1", "food", at + 89 * day);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->reason, "patient-declined");
  EXPECT_EQ(d->until, at + 90 * day);
  EXPECT_EQ(in_force->Find("p1", "housing-instability", at), nullptr);
  EXPECT_EQ(in_force->Find("p2", "food", at), nullptr);
  EXPECT_TRUE((*store)->LoadDeclines(a, 90, at + 90 * day)->empty()) << "expired";
  EXPECT_TRUE((*store)->LoadDeclines(a, 0, at)->empty()) << "declined_days 0";
  EXPECT_EQ((*store)->LoadDeclines("", 90, at)->size(), 2u) << "a folder pass: every server";
  auto rows = (*store)->ForPatient("p1");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].accepted_suggestions, std::vector<std::string>{"s-1"});
  EXPECT_EQ((*rows)[0].server, a) << "kept without the trailing slash";
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FeedbackStoreTest, ANewFileIs0600AndASymlinkIsRefused) {
  TempDir dir;
  const std::string path = (dir.path() / "new.sqlite").string();
  ASSERT_TRUE(FeedbackStore::Open(path, true).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string link = (dir.path() / "link.sqlite").string();
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  auto refused = FeedbackStore::Open(link, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("symlink"), std::string::npos);
}

// Issue 13: bound to one server and identifier system; cursors per server; rebind on request.
TEST(LedgerTest, BoundToItsServerWithCursorsPerServer) {
  TempDir dir;
  const std::string path = (dir.path() / "ledger.sqlite").string();
  const std::string sys = "urn:sdoh-bridge:referral";
  {
    Ledger ledger;
    ASSERT_TRUE(ledger.Open(path, 0).ok());
    ASSERT_TRUE(ledger.Bind("http://a.example/fhir/", sys, false).ok());  // first use binds
    ASSERT_TRUE(ledger.SetCursor("Patient", "2024-01-01T00:00:00Z", "run-1").ok());
  }
  {
    Ledger ledger;
    ASSERT_TRUE(ledger.Open(path, 0).ok());
    fhir::Status s = ledger.Bind("http://b.example/fhir", sys, false);
    EXPECT_EQ(s.code(), fhir::Status::Code::kInvalidArgument);
    EXPECT_NE(s.message().find("bound to the server http://a.example/fhir"), std::string::npos);
    EXPECT_NE(s.message().find("--rebind-ledger"), std::string::npos);
    EXPECT_EQ(ledger.Bind("http://a.example/fhir", "urn:other", false).code(),
              fhir::Status::Code::kInvalidArgument);
    std::string previous;
    ASSERT_TRUE(ledger.Bind("http://b.example/fhir", sys, true, &previous).ok());
    EXPECT_EQ(previous, "http://a.example/fhir " + sys);
    EXPECT_TRUE(ledger.Cursor("Patient").empty());  // b has no cursor yet
  }
  Ledger ledger;
  ASSERT_TRUE(ledger.Open(path, 0).ok());
  EXPECT_EQ(ledger.Bind("http://a.example/fhir", sys, false).code(),
            fhir::Status::Code::kInvalidArgument);
  ASSERT_TRUE(ledger.Bind("http://a.example/fhir", sys, true).ok());
  EXPECT_EQ(ledger.Cursor("Patient"), "2024-01-01T00:00:00Z");  // a's cursor kept
}

// Issue 13: a dangling lock symlink is refused and its target not created; a symlinked -shm
// is refused; an existing ledger's mode is never changed.
TEST(LedgerTest, RefusesSymlinksAndNeverChmodsAnExistingFile) {
  TempDir dir;
  const std::string path = (dir.path() / "ledger.sqlite").string();
  const fs::path target = dir.path() / "target";
  fs::create_symlink(target, path + ".lock");
  {
    Ledger ledger;
    fhir::Status s = ledger.Open(path, 0);
    EXPECT_EQ(s.code(), fhir::Status::Code::kIoError);
    EXPECT_NE(s.message().find(path + ".lock is a symlink"), std::string::npos) << s.message();
    EXPECT_FALSE(fs::exists(fs::symlink_status(target)));
  }
  fs::remove(path + ".lock");
  fs::create_symlink(target, path + "-shm");
  {
    Ledger ledger;
    fhir::Status s = ledger.Open(path, 0);
    EXPECT_NE(s.message().find(path + "-shm is a symlink"), std::string::npos) << s.message();
    EXPECT_FALSE(fs::exists(fs::symlink_status(target)));
  }
  fs::remove(path + "-shm");
  {
    Ledger ledger;
    ASSERT_TRUE(ledger.Open(path, 0).ok());
  }
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  {
    Ledger ledger;
    ASSERT_TRUE(ledger.Open(path, 0).ok());
  }
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// Issue 13: what the ledger recorded, and what is never changed.
TEST(ReferralPolicyTest, NotAsRecordedAndFinal) {
  ServerResource r = Sr("5", "active", "food-insecurity", "2024-01-01", "food-1");
  r.subject = "Patient/p";
  EXPECT_EQ(NotAsRecorded(r, "food-1", "p"), "");
  EXPECT_NE(NotAsRecorded(r, "food-2", "p"), "");
  EXPECT_NE(NotAsRecorded(r, "food-1", "q"), "");
  r.identifier = "";
  EXPECT_NE(NotAsRecorded(r, "food-1", "p"), "");
  for (const char* s : {"completed", "revoked", "entered-in-error"}) {
    EXPECT_TRUE(IsFinal(Sr("5", s, "food-insecurity", "2024-01-01"))) << s;
  }
  EXPECT_FALSE(IsFinal(Sr("5", "on-hold", "food-insecurity", "2024-01-01")));
  for (const char* s : {"completed", "cancelled", "failed", "rejected", "entered-in-error"}) {
    EXPECT_TRUE(IsFinal(Task("6", s, "ServiceRequest/5", "2024-01-01"))) << s;
  }
  EXPECT_FALSE(IsFinal(Task("6", "in-progress", "ServiceRequest/5", "2024-01-01")));
  rapidjson::Document d;
  d.Parse(CancelledTask(R"({"resourceType":"Task","status":"requested"})", "why").c_str());
  EXPECT_STREQ(d["status"].GetString(), "cancelled");
  EXPECT_STREQ(d["statusReason"]["text"].GetString(), "why");
  d.Parse(InactiveFlag(R"({"resourceType":"Flag","status":"active","period":{"start":"2024"}})",
                       "2024-06-01T00:00:00Z")
              .c_str());
  EXPECT_STREQ(d["status"].GetString(), "inactive");
  EXPECT_STREQ(d["period"]["start"].GetString(), "2024");
  EXPECT_STREQ(d["period"]["end"].GetString(), "2024-06-01T00:00:00Z");
}

TEST(AuditLogTest, Mode0600RetentionAndIdsOnly) {
  TempDir dir;
  const std::string path = (dir.path() / "audit.jsonl").string();
  {
    std::ofstream old(path);
    old << R"({"ts":"2000-01-01T00:00:00Z","event":"write"})"
        << "\n";
    old << R"({"ts":"2099-01-01T00:00:00Z","event":"keep"})"
        << "\n";
  }
  AuditLog log;
  ASSERT_TRUE(log.Open(path, 30, T("2024-06-01"), "run-x").ok());
  log.Write({"decision", "create", "ServiceRequest", "food-1", "p1", "food", "", 201, 1,
             "ServiceRequest/9", "1", ""});
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str().find("2000-01-01"), std::string::npos);
  EXPECT_NE(ss.str().find("\"keep\""), std::string::npos);
  EXPECT_NE(ss.str().find("\"patient\":\"Patient/p1\""), std::string::npos);
  EXPECT_NE(ss.str().find("\"http_status\":201"), std::string::npos);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Issue 13: a symlinked audit log is refused, its target untouched.
TEST(AuditLogTest, ASymlinkedAuditLogIsRefused) {
  TempDir dir;
  const std::string path = (dir.path() / "audit.jsonl").string();
  const fs::path target = dir.path() / "target";
  fs::create_symlink(target, path);
  AuditLog log;
  fhir::Status s = log.Open(path, 30, T("2024-06-01"), "run-x");
  EXPECT_NE(s.message().find(path + " is a symlink"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(fs::symlink_status(target)));
}

TEST(WritebackConfigTest, KeysDefaultsAndErrorsWithFileAndLine) {
  TempDir dir;
  auto write = [&](const std::string& extra) {
    std::ofstream f(dir.path() / "c.yaml");
    f << "source: ../samples\nout: out\nmappings: m\nrules: [r.yaml]\n"
      << "referrals:\n  identifier_system: urn:x\n"
      << extra;
    return (dir.path() / "c.yaml").string();
  };
  auto c = LoadConfig(write(""));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->writeback.batch_size, 8);
  EXPECT_EQ(c->writeback.suppression_days, 30);
  c =
      LoadConfig(write("writeback:\n  ledger: state/l.sqlite\n  batch_size: 4\n"
                       "  suppression_days: 5\n  audit_log: a.jsonl\n  audit_retention_days: 7\n"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->writeback.batch_size, 4);
  EXPECT_EQ(c->writeback.suppression_days, 5);
  EXPECT_EQ(c->writeback.audit_retention_days, 7);
  EXPECT_EQ(c->writeback.ledger, (dir.path() / "state/l.sqlite").string());
  c = LoadConfig(write("writeback:\n  batch_sise: 4\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("c.yaml:8:3"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("batch_sise"), std::string::npos);
  c = LoadConfig(write("writeback:\n  batch_size: 0\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("batch_size"), std::string::npos);
}

}  // namespace
}  // namespace sdoh::writeback
