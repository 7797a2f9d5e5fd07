// End-to-end tests of the sdoh-bridge binary: the samples against the hand-written expected
// flags, bad input, exit codes, outputs and their file modes.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;

using Result = sdoh::test::CliResult;
using sdoh::test::Lines;
using sdoh::test::ReadFile;

Result RunCli(const std::string& args) { return sdoh::test::RunBinary(SDOH_BRIDGE_BIN, args); }

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sdoh-cli-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const std::string kSource = SDOH_SOURCE_DIR;

// Drops the hand-written "why" so lines compare with the program's output.
std::string WithoutWhy(const std::string& line) {
  rapidjson::Document d;
  d.Parse(line.c_str());
  EXPECT_FALSE(d.HasParseError()) << line;
  d.RemoveMember("why");
  std::string out = "{";
  // Canonical order of keys, as flags.ndjson writes them.
  const char* keys[] = {"patient", "flag", "route", "certainty", "evidence", "rules", "ruleset"};
  bool first = true;
  for (const char* k : keys) {
    if (!d.HasMember(k)) continue;
    out += std::string(first ? "" : ",") + "\"" + k + "\":";
    first = false;
    const auto& v = d[k];
    if (v.IsString()) {
      out += std::string("\"") + v.GetString() + "\"";
    } else {
      out += "[";
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        out += std::string(i ? "," : "") + "\"" + v[i].GetString() + "\"";
      }
      out += "]";
    }
  }
  return out + "}";
}

TEST(CliTest, SamplesGiveExactlyTheHandWrittenFlags) {
  TempDir out;
  Result r =
      RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --out " + out.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> expected;
  for (const auto& l : Lines(ReadFile(kSource + "/samples/expected-flags.ndjson"))) {
    expected.push_back(WithoutWhy(l));
  }
  std::vector<std::string> actual = Lines(ReadFile(out.path() / "flags.ndjson"));
  ASSERT_GE(expected.size(), 40u);
  EXPECT_EQ(actual, expected);  // same lines, same order
}

TEST(CliTest, RunWritesReferralResourcesAndSummaryWithPrivateModes) {
  TempDir out;
  Result r =
      RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --out " + out.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f :
       {"flags.ndjson", "ServiceRequest.ndjson", "Task.ndjson", "Flag.ndjson", "summary.json"}) {
    struct stat st {};
    ASSERT_EQ(stat((out.path() / f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_FALSE(fs::exists(out.path() / "plan.json"));
  rapidjson::Document summary;
  summary.Parse(ReadFile(out.path() / "summary.json").c_str());
  ASSERT_FALSE(summary.HasParseError());
  EXPECT_EQ(summary["exit_code"].GetInt(), 0);
  EXPECT_GE(summary["patients"]["read"].GetUint64(), 40u);
  EXPECT_GT(summary["resources_planned"]["ServiceRequest"].GetUint64(), 0u);
  // Every ServiceRequest line is a ServiceRequest with a subject.
  for (const auto& line : Lines(ReadFile(out.path() / "ServiceRequest.ndjson"))) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    ASSERT_FALSE(d.HasParseError());
    EXPECT_STREQ(d["resourceType"].GetString(), "ServiceRequest");
    EXPECT_TRUE(d.HasMember("subject"));
  }
  EXPECT_THAT(r.output, ::testing::HasSubstr("skipped     0"));
}

TEST(CliTest, DryRunWritesOnlyFlagsPlanAndSummary) {
  TempDir out;
  Result r = RunCli("run --dry-run --config " + kSource + "/config/sdoh-bridge.yaml --out " +
                    out.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out.path() / "flags.ndjson"));
  EXPECT_TRUE(fs::exists(out.path() / "plan.json"));
  EXPECT_TRUE(fs::exists(out.path() / "summary.json"));
  EXPECT_FALSE(fs::exists(out.path() / "ServiceRequest.ndjson"));
  EXPECT_FALSE(fs::exists(out.path() / "Task.ndjson"));
  rapidjson::Document plan;
  plan.Parse(ReadFile(out.path() / "plan.json").c_str());
  ASSERT_FALSE(plan.HasParseError());
  EXPECT_GT(plan["referrals"].Size(), 0u);
}

TEST(CliTest, BadInputIsSkippedCountedAndTheRestCompletes) {
  TempDir src, out;
  const std::string good_qr =
      R"({"resourceType":"QuestionnaireResponse","id":"ok","status":"completed","questionnaire":"http://loinc.org/q/88121-9","authored":"2024-05-01","subject":{"reference":"Patient/p1"},"item":[{"linkId":"/88122-7","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA28397-0"}}]}]})";
  std::string deep(10000, '[');
  deep += std::string(10000, ']');
  std::string huge = R"({"resourceType":"QuestionnaireResponse","id":"huge","text":")" +
                     std::string(50u << 20, 'x') + "\"}";
  {
    std::ofstream f(src.path() / "QuestionnaireResponse.ndjson", std::ios::binary);
    f << "{not json\n";  // line 1
    f << R"({"resourceType":"Patient","id":"wrong"})"
      << "\n";  // line 2
    f << R"({"resourceType":"QuestionnaireResponse","id":"nosub","status":"completed","questionnaire":"http://loinc.org/q/88121-9","authored":"2024-05-01"})"
      << "\n";  // line 3
    f << R"({"resourceType":"QuestionnaireResponse","id":"bad)"
      << "\xff\xfe"
      << R"("})"
      << "\n";             // 4
    f << huge << "\n";     // line 5
    f << deep << "\n";     // line 6
    f << good_qr << "\n";  // line 7
  }
  {
    std::ofstream f(src.path() / "Patient.ndjson");
    f << R"({"resourceType":"Patient","id":"p1"})"
      << "\n";
  }
  Result r = RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                    src.path().string() + " --out " + out.path().string());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  rapidjson::Document summary;
  summary.Parse(ReadFile(out.path() / "summary.json").c_str());
  ASSERT_FALSE(summary.HasParseError());
  const auto& skipped = summary["skipped"];
  EXPECT_EQ(skipped["malformed-json"].GetUint64(), 1u);
  EXPECT_EQ(skipped["wrong-resource-type"].GetUint64(), 1u);
  EXPECT_EQ(skipped["missing-subject"].GetUint64(), 1u);
  EXPECT_EQ(skipped["invalid-utf8"].GetUint64(), 1u);
  EXPECT_EQ(skipped["line-too-long"].GetUint64(), 1u);
  EXPECT_EQ(skipped["too-deep"].GetUint64(), 1u);
  // Each skip names the file and line.
  std::vector<std::string> wheres;
  for (const auto& e : summary["skipped_examples"].GetArray())
    wheres.push_back(e["where"].GetString());
  const std::string file = (src.path() / "QuestionnaireResponse.ndjson").string();
  EXPECT_THAT(wheres, ::testing::UnorderedElementsAre(file + ":1", file + ":2", file + ":3",
                                                      file + ":4", file + ":5", file + ":6"));
  // The good line after the bad ones still gave its flag.
  std::string flags = ReadFile(out.path() / "flags.ndjson");
  EXPECT_THAT(flags, ::testing::HasSubstr(R"("patient":"Patient/p1","flag":"food")"));
  // The readable summary says what was skipped; no resource content leaks into it.
  EXPECT_THAT(r.output, ::testing::HasSubstr("line-too-long"));
  EXPECT_THAT(r.output, ::testing::Not(::testing::HasSubstr("xxxxxxxx")));
}

TEST(CliTest, ConfigErrorsExitTwoNamingFileLineAndKey) {
  TempDir dir;
  fs::path cfg = dir.path() / "bad.yaml";
  {
    std::ofstream f(cfg);
    f << "source: " << kSource << "/samples\nout: out\nmappings: " << kSource
      << "/mappings\nrules: [" << kSource << "/config/rules/sdoh-default.yaml]\n"
      << "referrals:\n  identifier_system: urn:x\n  routs: {}\n";
  }
  Result r = RunCli("run --config " + cfg.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr(cfg.string() + ":7:"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("routs"));

  fs::path rules = dir.path() / "rules.yaml";
  {
    std::ofstream f(rules);
    f << "ruleset: {id: x, version: '1'}\nrules:\n  - id: r1\n    need: food\n"
         "    instrument: hvs\n    when: {answer: {question: 99999-9, in: [LA33-6]}}\n";
  }
  fs::path cfg2 = dir.path() / "cfg2.yaml";
  {
    std::ofstream f(cfg2);
    f << "source: " << kSource << "/samples\nout: out\nmappings: " << kSource
      << "/mappings\nrules: [" << rules.string() << "]\nreferrals: {identifier_system: urn:x}\n";
  }
  r = RunCli("run --config " + cfg2.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr(rules.string() + ":6:"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("99999-9"));
  EXPECT_EQ(RunCli("run --bogus").exit_code, 2);
  EXPECT_EQ(RunCli("frobnicate").exit_code, 2);
}

TEST(CliTest, MissingSourceFolderIsFatal) {
  TempDir out;
  Result r =
      RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --source /nonexistent/x --out " +
             out.path().string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, ::testing::HasSubstr("/nonexistent/x"));
}

TEST(CliTest, HelpOnEveryCommand) {
  for (const char* c :
       {"--help", "run --help", "explain --help", "test-rules --help", "check --help"}) {
    Result r = RunCli(c);
    EXPECT_EQ(r.exit_code, 0) << c;
    EXPECT_THAT(r.output, ::testing::HasSubstr("Usage")) << c;
  }
}

TEST(CliTest, ExplainShowsScreeningsRulesAndNoPersonalData) {
  Result r = RunCli("explain --config " + kSource + "/config/sdoh-bridge.yaml --patient pat11");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("superseded"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("counted"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("ahc-hrsn.food"));
  // No names or birth dates from the sample Patient resource.
  std::string patients = ReadFile(kSource + "/samples/Patient.ndjson");
  rapidjson::Document d;
  for (const auto& line : Lines(patients)) {
    d.Parse(line.c_str());
    if (std::string(d["id"].GetString()) != "pat11") continue;
    if (d.HasMember("birthDate")) {
      EXPECT_THAT(r.output, ::testing::Not(::testing::HasSubstr(d["birthDate"].GetString())));
    }
    if (d.HasMember("name")) {
      for (const auto& n : d["name"].GetArray()) {
        if (n.HasMember("family")) {
          EXPECT_THAT(r.output, ::testing::Not(::testing::HasSubstr(n["family"].GetString())));
        }
      }
    }
  }
}

TEST(CliTest, TestRulesRunsFixtures) {
  Result r = RunCli("test-rules --config " + kSource + "/config/sdoh-bridge.yaml " + kSource +
                    "/tests/rule-fixtures/default-rules.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr(" passed, 0 failed"));
  // A fixture that expects the wrong flag fails, and says why.
  r = RunCli("test-rules --config " + kSource + "/config/sdoh-bridge.yaml " + kSource +
             "/tests/rule-fixtures/must-fail.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("FAIL"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("missing flag"));
}

// Issue 14 item 5: a form that is neither mapped nor inferable is never dropped quietly.
void WriteSource(const fs::path& dir, bool with_questionnaire) {
  const std::string form = "http://vendor.example.com/fhir/Questionnaire/intake";
  std::ofstream(dir / "Patient.ndjson") << R"({"resourceType":"Patient","id":"v1"})"
                                        << "\n";
  std::ofstream(dir / "QuestionnaireResponse.ndjson")
      << R"({"resourceType":"QuestionnaireResponse","id":"vq1","status":"completed","questionnaire":")"
      << form
      << R"(|7","subject":{"reference":"Patient/v1"},"authored":"2024-05-01T10:00:00Z","item":[{"linkId":"food-a","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA28397-0"}}]}]})"
      << "\n";
  if (with_questionnaire) {
    std::ofstream(dir / "Questionnaire.ndjson")
        << R"({"resourceType":"Questionnaire","id":"vq","url":")" << form
        << R"(","status":"active","item":[{"linkId":"food-a","type":"choice","code":[{"system":"http://loinc.org","code":"88122-7"}]}]})"
        << "\n";
  }
}

TEST(CliTest, UnmappedFormIsAWarningInTheSummaryAndExitThree) {
  TempDir src, out;
  WriteSource(src.path(), false);
  Result r = RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                    src.path().string() + " --out " + out.path().string());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("WARNING"));
  EXPECT_THAT(r.output, ::testing::HasSubstr(
                            "unmapped  1  http://vendor.example.com/fhir/Questionnaire/intake"));
  rapidjson::Document summary;
  summary.Parse(ReadFile(out.path() / "summary.json").c_str());
  ASSERT_FALSE(summary.HasParseError());
  EXPECT_EQ(summary["exit_code"].GetInt(), 3);
  ASSERT_EQ(summary["unmapped_forms"].Size(), 1u);
  EXPECT_STREQ(summary["unmapped_forms"][0]["canonical"].GetString(),
               "http://vendor.example.com/fhir/Questionnaire/intake");
  EXPECT_EQ(summary["unmapped_forms"][0]["count"].GetUint64(), 1u);
  // The samples have no unmapped form: an empty list, exit 0 (checked above).
  TempDir samples_out;
  Result s = RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --out " +
                    samples_out.path().string());
  EXPECT_EQ(s.exit_code, 0) << s.output;
  EXPECT_THAT(s.output, ::testing::Not(::testing::HasSubstr("WARNING")));
}

TEST(CliTest, UnregisteredVendorFormWithItsQuestionnaireIsInferred) {
  TempDir src, out;
  WriteSource(src.path(), true);
  Result r = RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                    src.path().string() + " --out " + out.path().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("inferred    1  "
                                             "http://vendor.example.com/fhir/Questionnaire/intake "
                                             "read as hvs"));
  std::vector<std::string> flags = Lines(ReadFile(out.path() / "flags.ndjson"));
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_THAT(flags[0], ::testing::HasSubstr(R"("flag":"food")"));
  rapidjson::Document summary;
  summary.Parse(ReadFile(out.path() / "summary.json").c_str());
  ASSERT_FALSE(summary.HasParseError());
  EXPECT_EQ(summary["unmapped_forms"].Size(), 0u);
  ASSERT_EQ(summary["inferred_forms"].Size(), 1u);
  EXPECT_STREQ(summary["inferred_forms"][0]["instruments"][0].GetString(), "hvs");
  // explain marks it inferred.
  Result e = RunCli("explain --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                    src.path().string() + " --patient v1");
  EXPECT_THAT(e.output, ::testing::HasSubstr("inferred  QuestionnaireResponse/vq1  [hvs]"));
  // With forms.infer off, the same form is dropped: warning and exit 3.
  std::string config = ReadFile(kSource + "/config/sdoh-bridge.yaml");
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = config.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    config.replace(at, from.size(), to);
  };
  replace("infer: true", "infer: false");
  replace("source: ../samples", "source: " + kSource + "/samples");
  replace("out: ../out", "out: " + kSource + "/out");
  replace("mappings: ../mappings", "mappings: " + kSource + "/mappings");
  replace("  - rules/sdoh-default.yaml", "  - " + kSource + "/config/rules/sdoh-default.yaml");
  std::ofstream(src.path() / "off.yaml") << config;
  Result off = RunCli("run --config " + (src.path() / "off.yaml").string() + " --source " +
                      src.path().string() + " --out " + out.path().string());
  EXPECT_EQ(off.exit_code, 3) << off.output;
}

TEST(CliTest, FormsCommandListsFormsAndDraftsMappings) {
  TempDir src, drafts;
  WriteSource(src.path(), false);
  Result r = RunCli("forms --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                    src.path().string() + " --write " + drafts.path().string());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr(
                            "unmapped  1  http://vendor.example.com/fhir/Questionnaire/intake"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("Questionnaire not available; linkIds: food-a"));
  std::string draft = ReadFile(drafts.path() / "intake.yaml");
  EXPECT_THAT(draft, ::testing::HasSubstr("instruments: [REVIEW]"));
  // On the samples: every form mapped, the feedback form declared not a screening.
  Result s = RunCli("forms --config " + kSource + "/config/sdoh-bridge.yaml");
  EXPECT_EQ(s.exit_code, 0) << s.output;
  EXPECT_THAT(s.output, ::testing::HasSubstr("mapped  "));
  EXPECT_THAT(
      s.output,
      ::testing::HasSubstr(
          "not-a-screening  1  http://clinic.example.org/fhir/Questionnaire/visit-feedback"));
  // With the Questionnaire: inferred, and the draft loads as a mapping.
  TempDir src2, drafts2;
  WriteSource(src2.path(), true);
  Result i = RunCli("forms --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                    src2.path().string() + " --write " + drafts2.path().string());
  EXPECT_EQ(i.exit_code, 0) << i.output;
  EXPECT_THAT(i.output,
              ::testing::HasSubstr("inferred  1  "
                                   "http://vendor.example.com/fhir/Questionnaire/intake  → hvs"));
  std::string inferred = ReadFile(drafts2.path() / "intake.yaml");
  EXPECT_THAT(inferred, ::testing::HasSubstr("instruments: [hvs]"));
  EXPECT_THAT(inferred, ::testing::HasSubstr("\"food-a\": 88122-7"));
}

}  // namespace
