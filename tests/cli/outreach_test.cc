// `sdoh-bridge outreach` (issue 15 item 4) on samples/ against the hand-written
// samples/expected-outreach.ndjson (each line has a `why`, left out of the comparison).
#include <filesystem>
#include <fstream>
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
  ASSERT_EQ(lines.size(), 18u);
  EXPECT_EQ(lines[0].rfind("rank,patient,reason,", 0), 0u);
  EXPECT_EQ(lines[1].rfind("1,Patient/pat38,never-screened-prior-positive,", 0), 0u);
  EXPECT_EQ(lines[17].rfind("17,Patient/pat22,never-screened,", 0), 0u);
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

namespace {

// An AHC panel of 2025-01-10 for `patient` with two members: the living situation answered, and
// food worry (88122-7) either answered "never true" or without a value and with
// dataAbsentReason asked-declined.
std::string AhcPanel(const std::string& patient, bool declined) {
  const std::string cat =
      R"("category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"survey"}]}])";
  const std::string head = R"({"resourceType":"Observation","status":"final",)" + cat +
                           R"(,"subject":{"reference":"Patient/)" + patient +
                           R"("},"effectiveDateTime":"2025-01-10T09:00:00Z",)";
  const std::string living =
      head + R"("id":")" + patient +
      R"(-71802-3","code":{"coding":[{"system":"http://loinc.org","code":"71802-3"}]},"valueCodeableConcept":{"coding":[{"system":"http://loinc.org","code":"LA31993-1"}]}})";
  std::string food =
      head + R"("id":")" + patient +
      R"(-88122-7","code":{"coding":[{"system":"http://loinc.org","code":"88122-7"}]},)";
  food +=
      declined
          ? R"("dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"asked-declined"}]}})"
          : R"("valueCodeableConcept":{"coding":[{"system":"http://loinc.org","code":"LA28398-8"}]}})";
  const std::string panel =
      head + R"("id":")" + patient +
      R"(-ahc","code":{"coding":[{"system":"http://loinc.org","code":"96777-8"}]},"hasMember":[{"reference":"Observation/)" +
      patient + R"(-71802-3"},{"reference":"Observation/)" + patient + R"(-88122-7"}]})";
  return panel + "\n" + living + "\n" + food + "\n";
}

// Issue 15 item 4: a question the patient declined through dataAbsentReason asked-declined is a
// declined item, as the PRAPARE answer LA30122-8 is; the same panel answered is not due.
TEST(OutreachTest, DataAbsentReasonAskedDeclinedIsADeclinedItem) {
  const auto dir = sdoh::test::FreshTestDir("sdoh-outreach-declined", "asked-declined");
  std::ofstream(dir / "Patient.ndjson")
      << R"({"resourceType":"Patient","id":"pdecl","active":true})"
      << "\n"
      << R"({"resourceType":"Patient","id":"pans","active":true})"
      << "\n";
  std::ofstream(dir / "Observation.ndjson") << AhcPanel("pdecl", true) << AhcPanel("pans", false);
  auto r = sdoh::test::RunBinary(
      SDOH_BRIDGE_BIN, "outreach --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                           dir.string() + " --as-of 2025-02-15T00:00:00Z");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Both panels leave the safety screen out (incomplete safety); only the declined one adds
  // declined-items.
  auto lines = sdoh::test::Lines(r.output);
  ASSERT_EQ(lines.size(), 2u) << r.output;
  EXPECT_NE(
      lines[0].find(
          R"("patient":"Patient/pans","reason":"incomplete-safety","reasons":["incomplete-safety"],)"),
      std::string::npos)
      << lines[0];
  EXPECT_NE(
      lines[1].find(
          R"("patient":"Patient/pdecl","reason":"incomplete-safety","reasons":["incomplete-safety","declined-items"],)"),
      std::string::npos)
      << lines[1];
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
