// run --bulk's resume state in the ledger file (issue 16): per (server, level or Group), the
// export under way and the committed transaction time kept apart, the file 0600, no symlink.
#include "plugin/writeback/bulk_resume_ledger.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace sdoh::writeback {
namespace {

namespace fs = std::filesystem;

class BulkResumeLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bulk-resume-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "ledger.sqlite").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string path_;
};

TEST_F(BulkResumeLedgerTest, KeepsTheExportAndTheTransactionTimePerServerAndScope) {
  auto system = BulkResumeLedger::Open(path_, "http://s/fhir", "system");
  ASSERT_TRUE(system.ok()) << system.status().message();
  auto empty = (*system)->Load();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->status_url.empty());
  EXPECT_TRUE(empty->transaction_time.empty());

  fhir::client::BulkResumeState s;
  s.kickoff = "http://s/fhir/$export?_type=Patient";
  s.status_url = "http://s/fhir/$export-status/1";
  s.consumed = {"output-0.ndjson", "output-2.ndjson"};
  ASSERT_TRUE((*system)->SaveExport(s).ok());
  ASSERT_TRUE((*system)->CommitTransactionTime("2026-12-03T10:00:00.123Z").ok());
  auto back = (*system)->Load();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->kickoff, s.kickoff);
  EXPECT_EQ(back->status_url, s.status_url);
  EXPECT_EQ(back->consumed, s.consumed);
  EXPECT_EQ(back->transaction_time, "2026-12-03T10:00:00.123Z");

  // Saving the export (done, cleared) leaves the committed transaction time.
  ASSERT_TRUE((*system)->SaveExport({}).ok());
  back = (*system)->Load();
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->status_url.empty());
  EXPECT_TRUE(back->consumed.empty());
  EXPECT_EQ(back->transaction_time, "2026-12-03T10:00:00.123Z");

  // Another Group, another server: their own rows.
  for (auto [server, scope] :
       {std::pair{"http://s/fhir", "Group/g1"}, std::pair{"http://other/fhir", "system"}}) {
    auto other = BulkResumeLedger::Open(path_, server, scope);
    ASSERT_TRUE(other.ok());
    auto o = (*other)->Load();
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o->transaction_time.empty()) << server << " " << scope;
  }
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(BulkResumeLedgerTest, ASymlinkedLedgerIsRefused) {
  const std::string target = (dir_ / "elsewhere.sqlite").string();
  ASSERT_EQ(::symlink(target.c_str(), path_.c_str()), 0);
  auto r = BulkResumeLedger::Open(path_, "http://s/fhir", "system");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is a symlink"), std::string::npos);
  EXPECT_FALSE(fs::exists(target));
}

}  // namespace
}  // namespace sdoh::writeback
