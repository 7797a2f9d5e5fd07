// Issue 13 #5-#9 through the real binary on small NDJSON folders: what comes in (ids, subjects,
// dates, conflicting lines) and what goes out as JSON (control bytes in values).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
using sdoh::test::CliResult;
using sdoh::test::Lines;
using sdoh::test::ReadFile;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSource = SDOH_SOURCE_DIR;
const std::string kConfig = kSource + "/config/sdoh-bridge.yaml";

CliResult Cli(const std::string& args) { return sdoh::test::RunBinary(SDOH_BRIDGE_BIN, args); }

class InputIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = sdoh::test::FreshTestDir(
        "sdoh-input", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    src_ = dir_ / "src";
    out_ = dir_ / "out";
    fs::create_directories(src_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }
  void Write(const std::string& type, const std::vector<std::string>& lines) {
    std::ofstream f(src_ / (type + ".ndjson"), std::ios::binary);
    for (const auto& l : lines) f << l << "\n";
  }
  CliResult Run(const std::string& extra = "", const std::string& config = kConfig) {
    return Cli("run --config " + config + " --source " + src_.string() + " --out " + out_.string() +
               " " + extra);
  }
  rapidjson::Document Summary() {
    rapidjson::Document d;
    d.Parse(ReadFile(out_ / "summary.json").c_str());
    EXPECT_FALSE(d.HasParseError());
    return d;
  }
  // A config like the default, with `extra` YAML appended (absolute paths).
  std::string ConfigWith(const std::string& extra) {
    fs::path cfg = dir_ / "config.yaml";
    std::ofstream f(cfg);
    f << "source: " << src_.string() << "\nout: " << out_.string() << "\nmappings: " << kSource
      << "/mappings\nrules: [" << kSource << "/config/rules/sdoh-default.yaml]\n"
      << "referrals: {identifier_system: 'urn:sdoh-bridge:referral'}\n"
      << extra;
    return cfg.string();
  }
  fs::path dir_, src_, out_;
};

uint64_t Count(const rapidjson::Value& obj, const char* key) {
  return obj.HasMember(key) ? obj[key].GetUint64() : 0;
}

// A Hunger Vital Sign QR: positive (food) when `positive`.
std::string Hvs(const std::string& id, const std::string& subject, const std::string& authored,
                bool positive, const std::string& meta = "") {
  const std::string a = positive ? "LA28397-0" : "LA28398-8";
  return R"({"resourceType":"QuestionnaireResponse","id":")" + id + "\"," + meta +
         R"("status":"completed","questionnaire":"http://loinc.org/q/88121-9","authored":")" +
         authored + R"(","subject":{"reference":")" + subject +
         R"("},"item":[{"linkId":"/88122-7","answer":[{"valueCoding":{"system":"http://loinc.org","code":")" +
         a +
         R"("}}]},{"linkId":"/88123-5","answer":[{"valueCoding":{"system":"http://loinc.org","code":")" +
         a + R"("}}]}]})";
}

std::string Patient(const std::string& id) {
  return R"({"resourceType":"Patient","id":")" + id + "\"}";
}

// Every line of every JSON output is strict JSON: no raw byte below 0x20 (RFC 8259 §7) — checked
// byte by byte, not only by RapidJSON, whose own SIMD reader once let 0x1A-0x1F through.
void ExpectStrictJsonFiles(const fs::path& out, size_t* lines_checked) {
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    const bool ndjson = name.ends_with(".ndjson") || name.ends_with(".jsonl");
    if (!ndjson && !name.ends_with(".json")) continue;
    const std::string text = ReadFile(entry.path());
    std::vector<std::string> docs = ndjson ? Lines(text) : std::vector<std::string>{text};
    for (const std::string& doc : docs) {
      for (size_t i = 0; i < doc.size(); ++i) {
        const auto c = static_cast<unsigned char>(doc[i]);
        const bool ws = c == '\n' || c == '\r' || c == '\t';
        ASSERT_TRUE(c >= 0x20 || (ws && !ndjson)) << name << ": raw byte " << int(c) << " at " << i;
      }
      rapidjson::Document d;
      d.Parse(doc.c_str(), doc.size());
      ASSERT_FALSE(d.HasParseError()) << name;
      ++*lines_checked;
    }
  }
}

// #5: a Patient's language display (escaped in the input, so the input is valid JSON) carries
// every control byte at every offset within 64 bytes; it reaches the interpreter Flag's text.
TEST_F(InputIntegrityTest, ControlBytesInValuesLeaveEveryOutputValidJson) {
  std::vector<std::string> patients;
  for (int offset = 0; offset < 64; ++offset) {
    // At most 64 bytes are kept (the collector's limit): 0-32 'x', 31 control bytes, UTF-8.
    std::string display(static_cast<size_t>(offset % 33), 'x');
    char esc[8];
    for (int c = 1; c < 0x20; ++c) {
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      display += esc;
    }
    display += R"(\u00e9\u4e2d\ud83d\ude00 \"q\" \\ \u2028)";
    char id[16];
    std::snprintf(id, sizeof id, "p%02d", offset);
    patients.push_back(
        std::string(R"({"resourceType":"Patient","id":")") + id +
        R"(","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired","valueBoolean":true}],"communication":[{"preferred":true,"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"es","display":")" +
        display + R"("}]}}]})");
  }
  Write("Patient", patients);
  CliResult r = Run("--now 2024-06-01");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(Lines(ReadFile(out_ / "Flag.ndjson")).size(), 64u);
  size_t checked = 0;
  ExpectStrictJsonFiles(out_, &checked);
  EXPECT_GE(checked, 64u * 2);
  // The text made it through intact (escaped, not dropped).
  rapidjson::Document flag;
  flag.Parse(Lines(ReadFile(out_ / "Flag.ndjson"))[5].c_str());
  const std::string text = flag["code"]["text"].GetString();
  EXPECT_THAT(text, HasSubstr("xxxxx\x01\x02"));
  EXPECT_THAT(text, HasSubstr("\x1a\x1b\x1c\x1d\x1e\x1f\xc3\xa9\xe4\xb8\xad"));

  // The dry run's plan.json and summary too.
  fs::remove_all(out_);
  r = Run("--now 2024-06-01 --dry-run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  checked = 0;
  ExpectStrictJsonFiles(out_, &checked);
  EXPECT_TRUE(fs::exists(out_ / "plan.json"));
}

// #6: ids FHIR does not allow are skipped as invalid-id (file:line), counted, and never reach
// an output, the summary or the terminal.
TEST_F(InputIntegrityTest, InvalidIdsAreSkippedAndNeverEchoed) {
  const std::vector<std::string> bad = {"zz/b",
                                        "..",
                                        "zz|y",
                                        "zz b",
                                        "zz\\u001b[31m",
                                        "zz\\u00e9",
                                        std::string(65, 'z'),
                                        "../../etc/passwd",
                                        "zz\\tx"};
  std::vector<std::string> patients = {Patient("good1"), Patient(std::string(64, 'b'))};
  std::vector<std::string> qrs = {Hvs("q-good", "Patient/good1", "2024-05-01", true)};
  for (const std::string& id : bad) {
    patients.push_back(Patient(id));
    qrs.push_back(Hvs(id, "Patient/good1", "2024-05-01", true));  // bad QR id
    qrs.push_back(Hvs("q" + std::to_string(qrs.size()), "Patient/" + id, "2024-05-01", true));
  }
  Write("Patient", patients);
  Write("QuestionnaireResponse", qrs);
  CliResult r = Run("--now 2024-06-01");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  rapidjson::Document s = Summary();
  // Each bad id three times: a Patient, a QR, a QR's subject ("Patient/zz/b" included).
  EXPECT_EQ(Count(s["skipped"], "invalid-id"), 3 * bad.size()) << ReadFile(out_ / "summary.json");
  const std::string file = (src_ / "Patient.ndjson").string();
  bool named = false;
  for (const auto& e : s["skipped_examples"].GetArray()) {
    if (std::string(e["reason"].GetString()) == "invalid-id" &&
        std::string(e["where"].GetString()) == file + ":3") {
      named = true;
    }
  }
  EXPECT_TRUE(named);
  // The valid 64-character id and the good QR made it.
  EXPECT_EQ(s["patients"]["read"].GetUint64(), 2u);
  const std::string flags = ReadFile(out_ / "flags.ndjson");
  EXPECT_THAT(flags, HasSubstr(R"("patient":"Patient/good1","flag":"food")"));
  // No bad id anywhere in the outputs or on the terminal; no raw ESC at all.
  for (const char* f :
       {"flags.ndjson", "ServiceRequest.ndjson", "Task.ndjson", "Flag.ndjson", "summary.json"}) {
    const std::string text = ReadFile(out_ / f);
    for (const char* needle : {"zz", "passwd", "..", "\x1b"}) {
      EXPECT_THAT(text, Not(HasSubstr(needle))) << f;
    }
  }
  EXPECT_THAT(r.output, Not(HasSubstr("\x1b")));
  EXPECT_THAT(r.output, Not(HasSubstr("passwd")));
  EXPECT_THAT(r.output, HasSubstr("invalid-id"));

  // explain refuses a bad --patient and shows it escaped, never raw.
  CliResult e = Cli("explain --config " + kConfig + " --source " + src_.string() +
                    " --patient \"$(printf '\\033[2J\\033[31mX')\"");
  EXPECT_EQ(e.exit_code, 2) << e.output;
  EXPECT_THAT(e.output, Not(HasSubstr("\x1b")));
  EXPECT_THAT(e.output, HasSubstr("\\x1b[2J"));
}

// #7: an absolute subject on another server is not this source's patient.
TEST_F(InputIntegrityTest, ForeignSubjectIsIgnoredUnlessItsBaseIsAnAlias) {
  Write("Patient", {Patient("tgt2")});
  Write("QuestionnaireResponse",
        {Hvs("q-foreign", "https://other-ehr.example/fhir/Patient/tgt2", "2024-05-01", true)});
  CliResult r = Run("--now 2024-06-01");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadFile(out_ / "flags.ndjson"), "");
  EXPECT_EQ(Lines(ReadFile(out_ / "ServiceRequest.ndjson")).size(), 0u);
  rapidjson::Document s = Summary();
  EXPECT_EQ(Count(s["ignored"], "QuestionnaireResponse: foreign-subject"), 1u);
  EXPECT_THAT(r.output, HasSubstr("foreign-subject"));

  // Listed as an alias of the source (any case, trailing '/'), the same base is local.
  std::string cfg = ConfigWith("source_aliases: ['HTTPS://other-ehr.example/fhir/']\n");
  r = Run("--now 2024-06-01", cfg);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(ReadFile(out_ / "flags.ndjson"),
              HasSubstr(R"("patient":"Patient/tgt2","flag":"food")"));
  // A lookalike base is still foreign.
  Write("QuestionnaireResponse",
        {Hvs("q-foreign", "https://other-ehr.example/fhir2/Patient/tgt2", "2024-05-01", true)});
  r = Run("--now 2024-06-01", cfg);
  EXPECT_EQ(ReadFile(out_ / "flags.ndjson"), "");
  // A bad alias is a config error naming the file and line.
  r = Run("", ConfigWith("source_aliases: [not-a-url]\n"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("config.yaml:6:"));
}

// #8: a screening dated after --now (plus the skew) does not win "newest".
TEST_F(InputIntegrityTest, FutureDatedScreeningIsIgnored) {
  Write("Patient", {Patient("p1")});
  Write("QuestionnaireResponse", {Hvs("q-real", "Patient/p1", "2024-05-01", true),
                                  Hvs("q-2099", "Patient/p1", "2099-01-01", false)});
  CliResult r = Run("--now 2024-06-01T00:00:00Z");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(ReadFile(out_ / "flags.ndjson"),
              HasSubstr(R"("patient":"Patient/p1","flag":"food")"));
  rapidjson::Document s = Summary();
  EXPECT_EQ(Count(s["ignored"], "QuestionnaireResponse: future-dated"), 1u);

  // Within the default skew (1 day) a later screening still counts: clocks differ.
  Write("QuestionnaireResponse", {Hvs("q-real", "Patient/p1", "2024-05-01", true),
                                  Hvs("q-soon", "Patient/p1", "2024-06-01T20:00:00Z", false)});
  r = Run("--now 2024-06-01T00:00:00Z");
  EXPECT_EQ(ReadFile(out_ / "flags.ndjson"), "") << r.output;
  // With screening.future_skew_hours: 0 it is future-dated.
  r = Run("--now 2024-06-01T00:00:00Z", ConfigWith("screening: {future_skew_hours: 0}\n"));
  EXPECT_THAT(ReadFile(out_ / "flags.ndjson"), HasSubstr(R"("flag":"food")")) << r.output;
  r = Run("", ConfigWith("screening: {future_skew_hours: -1}\n"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("future_skew_hours"));
}

// #9: two lines with the same id and version but other content: neither counts, in any order,
// and the summary says so. The same line twice is not a conflict.
TEST_F(InputIntegrityTest, ConflictingVersionsAreSkippedWhateverTheLineOrder) {
  const std::string meta = R"("meta":{"versionId":"3"},)";
  const std::string positive = Hvs("q1", "Patient/p1", "2024-05-01", true, meta);
  const std::string negative = Hvs("q1", "Patient/p1", "2024-05-01", false, meta);
  Write("Patient", {Patient("p1")});
  std::vector<std::string> results;
  for (const auto& order : {std::vector<std::string>{positive, negative},
                            std::vector<std::string>{negative, positive}}) {
    Write("QuestionnaireResponse", order);
    CliResult r = Run("--now 2024-06-01");
    EXPECT_EQ(r.exit_code, 3) << r.output;
    rapidjson::Document s = Summary();
    EXPECT_EQ(Count(s["skipped"], "conflicting-versions"), 2u);
    EXPECT_EQ(s["screenings"]["counted"].GetUint64(), 0u);
    EXPECT_THAT(r.output, HasSubstr("conflicting-versions"));
    EXPECT_THAT(r.output, HasSubstr(":2: conflicting-versions"));
    results.push_back(ReadFile(out_ / "flags.ndjson"));
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], "");

  // The same for two Patient lines (one deceased) and two member Observations.
  Write(
      "Patient",
      {R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"2"}})",
       R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"2"},"deceasedBoolean":true})"});
  Write("QuestionnaireResponse", {positive});
  CliResult r = Run("--now 2024-06-01");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_EQ(Count(Summary()["skipped"], "conflicting-versions"), 2u);

  // A repeated identical line is fine; a higher version settles a conflict.
  Write("Patient", {Patient("p1")});
  Write("QuestionnaireResponse",
        {positive, positive, negative,
         Hvs("q1", "Patient/p1", "2024-05-01", true, R"("meta":{"versionId":"4"},)")});
  r = Run("--now 2024-06-01");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(ReadFile(out_ / "flags.ndjson"), HasSubstr(R"("flag":"food")"));
  Write("QuestionnaireResponse", {positive, positive});
  r = Run("--now 2024-06-01");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(ReadFile(out_ / "flags.ndjson"), HasSubstr(R"("flag":"food")"));
}

}  // namespace
