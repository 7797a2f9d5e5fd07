// `sdoh-bridge outreach` (issue 15 item 4) on samples/ against the hand-written
// samples/expected-outreach.ndjson (each line has a `why`, left out of the comparison).
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "tests/support/test_support.h"

namespace {

const std::string kSource = SDOH_SOURCE_DIR;

std::vector<std::string> WithoutWhy(const std::string& ndjson) {
  std::vector<std::string> out;
  for (const std::string& l : sdoh::test::Lines(ndjson)) {
    rapidjson::Document d;
    d.Parse(l.c_str());
    EXPECT_FALSE(d.HasParseError()) << l;
    if (d.HasParseError()) continue;
    d.RemoveMember("why");
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    out.push_back(sb.GetString());
  }
  return out;
}

TEST(OutreachTest, SamplesMatchTheHandWrittenExpectations) {
  auto r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "outreach --config " + kSource +
                                                      "/config/sdoh-bridge.yaml --as-of "
                                                      "2025-02-15T00:00:00Z");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(WithoutWhy(r.output),
            WithoutWhy(sdoh::test::ReadFile(kSource + "/samples/expected-outreach.ndjson")));
}

TEST(OutreachTest, CsvHasOneRowPerPatientInRankOrder) {
  auto r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "outreach --config " + kSource +
                                                      "/config/sdoh-bridge.yaml --as-of "
                                                      "2025-02-15T00:00:00Z --format csv "
                                                      "");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto lines = sdoh::test::Lines(r.output);
  ASSERT_EQ(lines.size(), 17u);
  EXPECT_EQ(lines[0].rfind("rank,patient,reason,", 0), 0u);
  EXPECT_EQ(lines[1].rfind("1,Patient/pat38,never-screened-prior-positive,", 0), 0u);
  EXPECT_EQ(lines[16].rfind("16,Patient/pat22,never-screened,", 0), 0u);
}

TEST(OutreachTest, ALongerRescreenIntervalLeavesOnlyTheOldest) {
  // As of 2025-01-01 only pat58 (2014) is more than 365 days past its screening.
  auto r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "outreach --config " + kSource +
                                                      "/config/sdoh-bridge.yaml --as-of "
                                                      "2025-01-01");
  ASSERT_EQ(r.exit_code, 0);
  size_t overdue = 0;
  for (const std::string& l : sdoh::test::Lines(r.output)) {
    if (l.find("\"overdue\"") != std::string::npos) {
      ++overdue;
      EXPECT_NE(l.find("pat58"), std::string::npos) << l;
    }
  }
  EXPECT_EQ(overdue, 1u);
}

}  // namespace
