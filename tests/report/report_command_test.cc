// `sdoh-bridge report` end to end through RunReportCommand: a hand-built NDJSON population and
// samples/, with expectations computed by hand; and the rendered files agree with report.json.
#include "plugin/report/report_command.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/report/report_test_support.h"
#include "tests/support/test_support.h"

namespace sdoh {
namespace {

namespace fs = std::filesystem;
using report::testing::Counts;
using report::testing::FindRow;
using report::testing::FindTable;
using report::testing::ReadFile;
using Strings = std::vector<std::string>;

// The folders TempDir made, removed when the test process ends (SDOH_KEEP=1: kept, to look).
struct TempDirs {
  std::vector<fs::path> dirs;
  ~TempDirs() {
    if (std::getenv("SDOH_KEEP") != nullptr) return;
    std::error_code ec;
    for (const fs::path& dir : dirs) fs::remove_all(dir, ec);
  }
};

fs::path TempDir(const std::string& name) {
  static TempDirs made;
  return made.dirs.emplace_back(sdoh::test::FreshTestDir("sdoh-report", name));
}

std::string PatientJson(const std::string& id, const std::string& extra) {
  return R"({"resourceType":"Patient","id":")" + id + R"(")" + extra + "}";
}

std::string RaceExt(const Strings& codes) {
  std::string s =
      R"({"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[)";
  for (size_t i = 0; i < codes.size(); ++i) {
    if (i) s += ",";
    s +=
        R"({"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":")" +
        codes[i] + R"("}})";
  }
  return s + "]}";
}

std::string Hvs(const std::string& id, const std::string& patient, const std::string& authored,
                bool positive) {
  const char* a = positive ? "LA28397-0" : "LA28398-8";
  return R"({"resourceType":"QuestionnaireResponse","id":")" + id +
         R"(","status":"completed","questionnaire":"http://loinc.org/q/88121-9","subject":{"reference":"Patient/)" +
         patient + R"("},"authored":")" + authored +
         R"(","item":[{"linkId":"88122-7","answer":[{"valueCoding":{"system":"http://loinc.org","code":")" +
         a +
         R"("}}]},{"linkId":"88123-5","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA28398-8"}}]}]})";
}

// Ten active, living patients p1..p8, p11, p12; p9 deceased and p10 inactive (not counted).
// Screened in 2024: p1..p8 (HVS QRs, p1..p3 food-positive); p11's only screening is in 2023;
// p4 is rescreened (positive) in 2025; p12 has none and prefers Spanish (a possible interpreter
// need), as does deceased p9.
fs::path WritePopulation() {
  fs::path dir = TempDir("population");
  std::ofstream pat(dir / "Patient.ndjson");
  const std::string es =
      R"(,"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"es"}]},"preferred":true}])";
  pat << PatientJson(
             "p1",
             R"(,"extension":[)" + RaceExt({"2106-3", "2054-5"}) +
                 R"(],"gender":"female","birthDate":"2007-01-01","address":[{"postalCode":"02139-1234"}])")
      << "\n"
      << PatientJson("p2", R"(,"extension":[)" + RaceExt({"2028-9"}) +
                               R"(],"gender":"male","birthDate":"1979-12-31")")
      << "\n"
      << PatientJson("p3", R"(,"gender":"female","birthDate":"1980-01-01")") << "\n"
      << PatientJson("p4", R"(,"gender":"male","birthDate":"1959-12-31")") << "\n";
  for (int i = 5; i <= 8; ++i) pat << PatientJson("p" + std::to_string(i), "") << "\n";
  pat << PatientJson("p9", R"(,"deceasedBoolean":true)" + es) << "\n"
      << PatientJson("p10", R"(,"active":false)") << "\n"
      << PatientJson("p11", "") << "\n"
      << PatientJson("p12", es) << "\n";
  std::ofstream qr(dir / "QuestionnaireResponse.ndjson");
  for (int i = 1; i <= 8; ++i) {
    qr << Hvs("q" + std::to_string(i), "p" + std::to_string(i), "2024-03-0" + std::to_string(i),
              i <= 3)
       << "\n";
  }
  // p4 is rescreened after the period: as of the period's end its 2024 screening counts.
  qr << Hvs("q4-2025", "p4", "2025-01-01T00:00:00Z", true) << "\n";
  qr << Hvs("q9", "p9", "2024-03-01", true) << "\n"
     << Hvs("q10", "p10", "2024-03-01", true) << "\n"
     << Hvs("q11", "p11", "2023-12-31T23:59:00Z", true) << "\n";
  return dir;
}

rapidjson::Document RunReport(const fs::path& source, const fs::path& out, const Strings& extra) {
  Strings args = {"--source", source.string(), "--out", out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  std::ostringstream o, e;
  EXPECT_EQ(RunReportCommand(args, o, e), 0) << e.str();
  rapidjson::Document doc;
  doc.Parse(ReadFile((out / "report.json").string()).c_str());
  EXPECT_FALSE(doc.HasParseError());
  return doc;
}

TEST(ReportCommandTest, HandBuiltPopulationNumbers) {
  fs::path src = WritePopulation();
  fs::path out = TempDir("population-out");
  rapidjson::Document doc =
      RunReport(src, out, {"--from", "2024-01-01", "--to", "2024-12-31", "--min-cell", "1"});
  EXPECT_EQ(Counts(doc, "coverage", "All patients"), (Strings{"8", "2", "10"}));
  const rapidjson::Value& cov = (*FindTable(doc, "coverage"))["rows"][0];
  EXPECT_DOUBLE_EQ(cov["rate_percent"].GetDouble(), 80.0);
  EXPECT_DOUBLE_EQ(cov["ci_low_percent"].GetDouble(), 49.0);  // Wilson 8/10: 0.4902-0.9433
  EXPECT_DOUBLE_EQ(cov["ci_high_percent"].GetDouble(), 94.3);
  EXPECT_STREQ(cov["note"].GetString(), "too few to compare");
  EXPECT_EQ(Counts(doc, "positive", "food"), (Strings{"3", "5", "8"}));
  EXPECT_EQ(Counts(doc, "race", "Two or more races"), (Strings{"1", "0", "1"}));
  EXPECT_EQ(Counts(doc, "race", "Asian"), (Strings{"1", "0", "1"}));
  EXPECT_EQ(Counts(doc, "race", "Unknown"), (Strings{"6", "2", "8"}));
  EXPECT_EQ(Counts(doc, "gender", "female"), (Strings{"2", "0", "2"}));
  EXPECT_EQ(Counts(doc, "gender", "unknown"), (Strings{"4", "2", "6"}));
  EXPECT_EQ(Counts(doc, "age", "0-17"), (Strings{"1", "0", "1"}));   // p1, 17
  EXPECT_EQ(Counts(doc, "age", "18-44"), (Strings{"1", "0", "1"}));  // p3, 44
  EXPECT_EQ(Counts(doc, "age", "45-64"), (Strings{"1", "0", "1"}));  // p2, 45 that day
  EXPECT_EQ(Counts(doc, "age", "65+"), (Strings{"1", "0", "1"}));    // p4
  EXPECT_EQ(Counts(doc, "zip3", "021"), (Strings{"1", "0", "1"}));
  EXPECT_EQ(Counts(doc, "zip3", "unknown"), (Strings{"7", "2", "9"}));
  EXPECT_EQ(Counts(doc, "language", "es"), (Strings{"0", "1", "1"}));
  EXPECT_EQ(Counts(doc, "insurance", "not recorded"), (Strings{"8", "2", "10"}));
  // Interpreter: p12 (active) gets a referral; p9 (deceased) has the need but no referral.
  EXPECT_EQ(Counts(doc, "interpreter", "es"), (Strings{"1", "1", "2"}));
  // No names, ids or addresses in any output.
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string text = ReadFile(entry.path().string());
    for (const char* secret : {"\"p1\"", "p12", "q1", "02139", "Patient/"}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << entry.path() << " has " << secret;
    }
  }
}

TEST(ReportCommandTest, HandBuiltPopulationIsSuppressedByDefault) {
  fs::path src = WritePopulation();
  fs::path out = TempDir("population-suppressed");
  rapidjson::Document doc = RunReport(src, out, {"--from", "2024-01-01", "--to", "2024-12-31"});
  EXPECT_EQ(Counts(doc, "coverage", "All patients"), (Strings{"<11", "<11", "<11"}));
  EXPECT_TRUE((*FindTable(doc, "coverage"))["rows"][0]["rate_percent"].IsNull());
  EXPECT_TRUE((*FindTable(doc, "coverage"))["rows"][0]["ci_low_percent"].IsNull());
  EXPECT_EQ(Counts(doc, "positive", "food"), (Strings{"<11", "<11", "<11"}));
  EXPECT_TRUE(report::testing::RecoverableCells(doc).empty());
}

// samples/: 58 patients; pat33 and pat35 are deceased and pat34 inactive, so 55 are active and
// living. Of those, pat10 (vitals only), pat22 (preliminary/cancelled panels only), pat38,
// pat41 and pat43 (no screenings) have no counted screening, and pat58's only screening is from
// 2014 (the stale case of issue 14); every other counted screening (pat51-pat57 included: the
// screening cases of issue 14) is dated 2023-2024. So coverage over 2023-01-01..2024-12-31 is
// 49 / 55.
TEST(ReportCommandTest, SamplesCoverage) {
  fs::path out = TempDir("samples");
  const fs::path samples = fs::path(SDOH_SOURCE_DIR) / "samples";
  rapidjson::Document doc =
      RunReport(samples, out, {"--from", "2023-01-01", "--to", "2024-12-31", "--min-cell", "1"});
  EXPECT_EQ(Counts(doc, "coverage", "All patients"), (Strings{"49", "6", "55"}));
  // Positive per need = the hand-written expected flags of the 49 screened, active, living
  // patients.
  const std::set<std::string> excluded = {"pat33", "pat34", "pat35", "pat10", "pat22",
                                          "pat38", "pat41", "pat43", "pat58"};
  std::map<std::string, int> expected;
  std::ifstream flags(samples / "expected-flags.ndjson");
  for (std::string line; std::getline(flags, line);) {
    rapidjson::Document f;
    f.Parse(line.c_str());
    const std::string patient = std::string(f["patient"].GetString()).substr(8);
    if (excluded.count(patient) == 0) ++expected[f["flag"].GetString()];
  }
  ASSERT_FALSE(expected.empty());
  for (const auto& [need, n] : expected) {
    EXPECT_EQ(Counts(doc, "positive", need),
              (Strings{std::to_string(n), std::to_string(49 - n), "49"}))
        << need;
  }
  // A period with no screenings: nobody is covered; zero is not suppressed.
  fs::path empty_out = TempDir("samples-2025");
  rapidjson::Document none =
      RunReport(samples, empty_out, {"--from", "2025-01-01", "--to", "2025-12-31"});
  EXPECT_EQ(Counts(none, "coverage", "All patients"), (Strings{"0", "55", "55"}));
  // By default the six unscreened patients are a small cell.
  fs::path default_out = TempDir("samples-default");
  rapidjson::Document def =
      RunReport(samples, default_out, {"--from", "2023-01-01", "--to", "2024-12-31"});
  EXPECT_EQ(Counts(def, "coverage", "All patients"), (Strings{"suppressed", "<11", "55"}));
  EXPECT_TRUE(report::testing::RecoverableCells(def).empty());
}

using report::testing::CheckFilesAgree;

TEST(ReportCommandTest, HtmlAndCsvShowTheNumbersOfReportJson) {
  const fs::path samples = fs::path(SDOH_SOURCE_DIR) / "samples";
  for (const char* min_cell : {"1", "11"}) {
    fs::path out = TempDir(std::string("files-") + min_cell);
    RunReport(samples, out, {"--from", "2023-01-01", "--to", "2024-12-31", "--min-cell", min_cell});
    CheckFilesAgree(out);
  }
  fs::path out = TempDir("files-population");
  RunReport(WritePopulation(), out, {"--from", "2024-01-01", "--to", "2024-12-31"});
  CheckFilesAgree(out);
}

TEST(ReportCommandTest, UsageErrors) {
  std::ostringstream o, e;
  EXPECT_EQ(RunReportCommand({"--help"}, o, e), 0);
  EXPECT_NE(o.str().find("--min-cell"), std::string::npos);
  EXPECT_EQ(RunReportCommand({"--from", "2024-02-30"}, o, e), 2);
  EXPECT_EQ(RunReportCommand({"--min-cell", "0"}, o, e), 2);
  EXPECT_EQ(RunReportCommand({"--from", "2024-05-01", "--to", "2024-04-01"}, o, e), 2);
  EXPECT_EQ(RunReportCommand({"--bogus"}, o, e), 2);
  EXPECT_EQ(RunReportCommand({"--source", "/nonexistent/sdoh-report"}, o, e), 2);
}

}  // namespace
}  // namespace sdoh
