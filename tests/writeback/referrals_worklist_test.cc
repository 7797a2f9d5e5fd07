// `sdoh-bridge referrals` (issue 15 item 2): the worklist from a hand-made ledger, as of a
// fixed day, against hand-written expectations (order: bounced, stalled, completed awaiting
// close, then the open ones; oldest first within each; closed referrals left out; no names).
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "plugin/commands/referrals_command.h"
#include "plugin/writeback/ledger.h"

namespace {

namespace fs = std::filesystem;
const std::string kSource = SDOH_SOURCE_DIR;
const std::string kOrg = "Organization/social-work-team";

class ReferralsWorklistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sdoh-worklist-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ledger_path_ = (dir_ / "ledger.sqlite").string();
    sdoh::writeback::Ledger l;
    ASSERT_TRUE(l.Open(ledger_path_, 0).ok());
    ASSERT_TRUE(l.Bind("http://ehr.example/fhir", "urn:sdoh-bridge:referral", false).ok());
    struct R {
      const char* task;
      const char* patient;
      const char* need;
      const char* id;
      const char* status;
      const char* reason;
      const char* authored;
      const char* since;
      const char* output;
      const char* follow_up;
      const char* sr_status;
      const char* ledger_state;
    };
    for (const R& r : std::vector<R>{
             {"task-a", "pat01", "food", "1", "requested", "", "2025-02-26", "2025-02-26T09:00:00Z",
              "", "", "", "confirmed"},
             {"task-b", "pat01", "housing-instability", "2", "requested", "", "2025-02-10",
              "2025-02-10T08:00:00Z", "", "", "", "confirmed"},
             {"task-c", "pat03", "food", "3", "rejected", "No capacity", "2025-02-01",
              "2025-02-20T10:00:00Z", "", "followup-c-rejected", "", "confirmed"},
             {"task-d", "pat04", "food", "4", "completed", "", "2025-01-15", "2025-02-25T12:00:00Z",
              "Procedure/p1", "", "", "confirmed"},
             {"task-e", "pat05", "transportation", "5", "completed", "", "2025-01-02",
              "2025-01-30T00:00:00Z", "Procedure/p2", "", "completed", "confirmed"},
             {"task-f", "pat05", "food", "6", "in-progress", "", "2025-01-20",
              "2025-02-20T00:00:00Z", "", "", "", "confirmed"},
             {"task-g", "pat06", "food", "7", "accepted", "", "2025-01-05", "2025-01-10T00:00:00Z",
              "", "", "", "confirmed"},
             {"task-h", "pat07", "utilities", "8", "cancelled", "Referral retracted", "2025-01-05",
              "2025-01-12T00:00:00Z", "", "", "revoked", "revoked"},
         }) {
      ASSERT_TRUE(
          l.Upsert({"Task", r.task, r.patient, r.need, r.ledger_state, r.id, "1", "run-1"}).ok());
      sdoh::writeback::LoopRow row;
      row.task = r.task;
      row.patient = r.patient;
      row.need = r.need;
      row.task_id = r.id;
      row.version = "2";
      row.status = r.status;
      row.status_reason = r.reason;
      row.performer = kOrg;
      row.authored = r.authored;
      row.status_since = r.since;
      row.output = r.output;
      row.service_request = "ServiceRequest/sr" + std::string(r.id);
      row.follow_up = r.follow_up;
      row.sr_status = r.sr_status;
      ASSERT_TRUE(l.UpsertLoop(row).ok());
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  int Run(const std::string& format, std::string* out, bool with_names = false) {
    sdoh::ReferralsOptions o;
    o.with_names = with_names;
    o.config_path = kSource + "/config/sdoh-bridge.yaml";
    o.ledger = ledger_path_;
    o.format = format;
    o.as_of = "2025-03-01T00:00:00Z";
    std::ostringstream so, se;
    int code = sdoh::ReferralsCommand(o, so, se);
    *out = so.str() + se.str();
    return code;
  }

  fs::path dir_;
  std::string ledger_path_;
};

TEST_F(ReferralsWorklistTest, NdjsonListsNeedingActionFirstAndLeavesClosedOnesOut) {
  std::string out;
  ASSERT_EQ(Run("ndjson", &out), 0) << out;
  // Written by hand: a rejected referral is bounced; task-g accepted 50 days ago (> 30) and
  // task-b requested 19 days ago (> 7) are stalled, oldest first; task-d completed with our
  // ServiceRequest still open; then the open ones by age. task-e (completed and closed) and
  // task-h (cancelled by our own retraction) are not listed.
  const std::string expected =
      R"({"action":"bounced","patient":"Patient/pat03","need":"food","status":"rejected","performer":"Organization/social-work-team","age_days":28,"last_change":"2025-02-20T10:00:00Z","days_since_change":8,"reason":"No capacity","follow_up":"followup-c-rejected","task":"Task/3"})"
      "\n"
      R"({"action":"stalled","patient":"Patient/pat06","need":"food","status":"accepted","performer":"Organization/social-work-team","age_days":55,"last_change":"2025-01-10T00:00:00Z","days_since_change":50,"task":"Task/7"})"
      "\n"
      R"({"action":"stalled","patient":"Patient/pat01","need":"housing-instability","status":"requested","performer":"Organization/social-work-team","age_days":19,"last_change":"2025-02-10T08:00:00Z","days_since_change":18,"task":"Task/2"})"
      "\n"
      R"({"action":"completed-awaiting-close","patient":"Patient/pat04","need":"food","status":"completed","performer":"Organization/social-work-team","age_days":45,"last_change":"2025-02-25T12:00:00Z","days_since_change":3,"task":"Task/4","output":"Procedure/p1"})"
      "\n"
      R"({"patient":"Patient/pat05","need":"food","status":"in-progress","performer":"Organization/social-work-team","age_days":40,"last_change":"2025-02-20T00:00:00Z","days_since_change":9,"task":"Task/6"})"
      "\n"
      R"({"patient":"Patient/pat01","need":"food","status":"requested","performer":"Organization/social-work-team","age_days":3,"last_change":"2025-02-26T09:00:00Z","days_since_change":2,"task":"Task/1"})"
      "\n";
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.find("name"), std::string::npos);
}

TEST_F(ReferralsWorklistTest, CsvAndTableHaveTheSameRowsInTheSameOrder) {
  std::string csv, table;
  ASSERT_EQ(Run("csv", &csv), 0) << csv;
  ASSERT_EQ(Run("table", &table), 0) << table;
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "action,patient,need,status,performer,age_days,last_change,days_since_change,reason,"
            "follow_up,task,output");
  EXPECT_NE(csv.find("\nbounced,Patient/pat03,food,rejected,"), std::string::npos) << csv;
  EXPECT_NE(table.find("6 referral(s), 4 needing action"), std::string::npos) << table;
  const size_t bounced = table.find("bounced"), stalled = table.find("stalled"),
               close = table.find("completed-awaiting-close");
  EXPECT_LT(bounced, stalled);
  EXPECT_LT(stalled, close);
}

TEST_F(ReferralsWorklistTest, WithNamesAddsThemFromTheSourcesPatients) {
  std::string out;
  ASSERT_EQ(Run("ndjson", &out, true), 0) << out;
  // The default config's source is samples/: pat01 is Grace Adaeze Okafor.
  EXPECT_NE(out.find(R"("patient":"Patient/pat01","name":"Grace Adaeze Okafor","need":"food")"),
            std::string::npos)
      << out;
}

TEST_F(ReferralsWorklistTest, AnUnknownFormatIsAUsageError) {
  std::string out;
  EXPECT_EQ(Run("xml", &out), 2);
}

}  // namespace
