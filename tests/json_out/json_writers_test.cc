// Issue 13 #5: every JSON writer the product uses, fed every byte 0x00-0x7F and a sample of
// UTF-8 at every offset within 64 bytes, writes JSON that parses back to the same value. The
// product's writers all go through rapidjson::Writer<StringBuffer> (or PrettyWriter), whose
// RapidJSON 1.1.0 SIMD scan left 0x1A-0x1F unescaped; each writer is also driven itself.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"
#include "plugin/commands/run_job.h"
#include "plugin/referrals/referral_planner.h"
#include "plugin/report/report_writers.h"
#include "plugin/service/cds_hooks.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/audit_log.h"

namespace sdoh {
namespace {

namespace fs = std::filesystem;

// 64-byte strings: 'a' * offset, the probe, 'z' up to 64 bytes. Probes: every byte 0x00-0x7F
// and UTF-8 of 2, 3 and 4 bytes (and U+2028, which JSON allows raw but JavaScript did not).
std::vector<std::string> Payloads() {
  std::vector<std::string> probes;
  for (int b = 0; b < 0x80; ++b) probes.push_back(std::string(1, static_cast<char>(b)));
  for (const char* u : {"\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xe2\x80\xa8"}) {
    probes.push_back(u);
  }
  std::vector<std::string> out;
  for (const std::string& p : probes) {
    for (size_t offset = 0; offset + p.size() <= 64; ++offset) {
      std::string s(offset, 'a');
      s += p;
      s.append(64 - s.size(), 'z');
      out.push_back(s);
    }
  }
  return out;
}

// Strict: RFC 8259 forbids raw bytes below 0x20 anywhere in a JSON text we write on one line.
::testing::AssertionResult StrictJson(const std::string& text, rapidjson::Document* d,
                                      bool allow_newlines = false) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && !(allow_newlines && c == '\n')) {
      return ::testing::AssertionFailure() << "raw byte " << int(c) << " at " << i;
    }
  }
  if (fhir::json::ParseDocument(text, 64, d) != fhir::json::ParseFailure::kNone) {
    return ::testing::AssertionFailure() << "does not parse: " << text.substr(0, 200);
  }
  return ::testing::AssertionSuccess();
}

std::string Str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

class JsonWritersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto p = LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    ASSERT_TRUE(p.ok()) << p.status().message();
    pipeline_ = new Pipeline(std::move(*p));
  }
  static void TearDownTestSuite() {
    delete pipeline_;
    pipeline_ = nullptr;
  }
  static Pipeline* pipeline_;
};
Pipeline* JsonWritersTest::pipeline_ = nullptr;

TEST_F(JsonWritersTest, RapidJsonWriterAndPrettyWriterEscapeEveryByte) {
  for (const std::string& s : Payloads()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    rapidjson::Document d;
    ASSERT_TRUE(StrictJson(sb.GetString(), &d));
    EXPECT_EQ(Str(d), s);
    rapidjson::StringBuffer pb;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> pw(pb);
    pw.StartObject();
    pw.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    pw.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    pw.EndObject();
    rapidjson::Document pd;
    ASSERT_TRUE(StrictJson(pb.GetString(), &pd, /*allow_newlines=*/true));
    EXPECT_EQ(Str(pd.MemberBegin()->value), s);
  }
}

// flags.ndjson (FlagLine) and ServiceRequest/Task/Flag.ndjson (PlanReferral): the interpreter
// Flag carries the language display; the other fields take the payload as ids and codes.
TEST_F(JsonWritersTest, FlagLinesAndReferralResources) {
  const Pipeline& p = *pipeline_;
  PlanContext ctx{p.catalog.get(), &p.config, p.ruleset.id(), p.ruleset.version(), 0};
  for (const std::string& s : Payloads()) {
    NeedFlag f;
    f.patient_id = s;
    f.need = "interpreter";
    f.def = p.catalog->FindNeed("interpreter");
    ASSERT_NE(f.def, nullptr);
    f.possible = false;
    f.evidence["Patient/" + s] = s;
    f.rules = {s};
    f.why = {s};
    f.language = s;
    f.language_display = s;
    rapidjson::Document d;
    ASSERT_TRUE(StrictJson(FlagLine(f, s), &d));
    EXPECT_EQ(Str(d["patient"]), "Patient/" + s);
    PatientFacts facts;
    facts.present = true;
    ReferralPlan plan = PlanReferral(f, facts, ctx);
    ASSERT_FALSE(plan.resources.empty());
    for (const PlannedResource& r : plan.resources) {
      rapidjson::Document rd;
      ASSERT_TRUE(StrictJson(r.json, &rd)) << r.type;
    }
  }
}

TEST_F(JsonWritersTest, AuditLogLines) {
  const fs::path dir = fs::temp_directory_path() / ("sdoh-json-audit-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "audit.jsonl").string();
  const std::vector<std::string> payloads = Payloads();
  {
    writeback::AuditLog log;
    ASSERT_TRUE(log.Open(path, 90, fhir::NowMicros(), "run-x").ok());
    for (const std::string& s : payloads) {
      writeback::AuditEvent e;
      e.event = e.action = e.type = e.identifier = e.patient = e.need = e.reason = s;
      e.server_id = e.version = e.issue_codes = s;
      log.Write(e);
    }
  }
  std::ifstream in(path, std::ios::binary);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    rapidjson::Document d;
    ASSERT_TRUE(StrictJson(line, &d)) << "line " << n + 1;
    EXPECT_EQ(Str(d["reason"]), payloads[n]);
    ++n;
  }
  EXPECT_EQ(n, payloads.size());
  fs::remove_all(dir);
}

// CDS answers: a patient-view call whose Patient's language display is the payload (JSON-escaped
// in the request) gets a 200 whose body is JSON.
TEST_F(JsonWritersTest, CdsHooksAnswers) {
  size_t calls = 0;
  for (const std::string& s : Payloads()) {
    if (s.find('\0') != std::string::npos) continue;  // a display cannot hold NUL via c_str
    rapidjson::StringBuffer esc;
    rapidjson::Writer<rapidjson::StringBuffer> w(esc);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    const std::string body =
        std::string(
            R"({"hook":"patient-view","hookInstance":"x","context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":{"patient":{"resourceType":"Patient","id":"p1","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired","valueBoolean":true}],"communication":[{"preferred":true,"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"es","display":)") +
        esc.GetString() +
        R"(}]}}]},"qr":{"resourceType":"Bundle","type":"searchset"},"obs":{"resourceType":"Bundle","type":"searchset"},"openReferrals":{"resourceType":"Bundle","type":"searchset"}}})";
    service::CdsResult r = service::EvaluatePatientView(*pipeline_, body, fhir::NowMicros());
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document d;
    ASSERT_TRUE(StrictJson(r.body, &d));
    ASSERT_EQ(d["cards"].Size(), 1u);
    ++calls;
  }
  EXPECT_GT(calls, 8000u);
}

TEST_F(JsonWritersTest, ReportJson) {
  // One table per payload: its id, title, caption, row header, row and column labels.
  report::Report rep;
  for (const std::string& s : Payloads()) {
    if (s.find('\0') != std::string::npos) continue;  // RenderJson writes C strings
    report::ReportTable t;
    t.id = t.title = t.caption = t.row_header = t.rate_label = s;
    t.rows = {s};
    t.columns = {s};
    t.counts.cells.assign(1, std::vector<report::Cell>(1));
    rep.tables.push_back(std::move(t));
  }
  rep.denominator = rep.tables.back().title;
  rapidjson::Document d;
  ASSERT_TRUE(StrictJson(report::RenderJson(rep), &d, /*allow_newlines=*/true));
  ASSERT_EQ(d["tables"].Size(), rep.tables.size());
  for (size_t i = 0; i < rep.tables.size(); ++i) {
    EXPECT_EQ(Str(d["tables"][static_cast<rapidjson::SizeType>(i)]["title"]), rep.tables[i].title);
  }
}

// plan.json and summary.json (written by RunJob): the source folder's name, which both carry,
// holds the control bytes (a file name may hold any byte but '/' and NUL).
TEST_F(JsonWritersTest, PlanAndSummary) {
  const fs::path root = fs::temp_directory_path() / ("sdoh-json-run-" + std::to_string(getpid()));
  fs::create_directories(root);
  for (int offset = 0; offset < 16; ++offset) {
    std::string name(static_cast<size_t>(offset), 'a');
    for (int c = 1; c < 0x20; ++c) name.push_back(static_cast<char>(c));
    name += "\xc3\xa9";
    const fs::path src = root / name;
    fs::create_directories(src);
    {
      std::ofstream(src / "Patient.ndjson") << R"({"resourceType":"Patient","id":"p1"})"
                                            << "\n"
                                            << "{not json\n";
    }
    RunOptions o;
    o.config_path = std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml";
    o.source = src.string();
    o.out = (root / ("out" + std::to_string(offset))).string();
    o.dry_run = true;
    o.now = "2024-06-01";
    std::ostringstream out, err;
    EXPECT_EQ(RunJob(o, out, err), 3) << err.str();
    for (const char* f : {"summary.json", "plan.json"}) {
      std::ifstream in(fs::path(o.out) / f, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      rapidjson::Document d;
      ASSERT_TRUE(StrictJson(ss.str(), &d, /*allow_newlines=*/true)) << f << " offset " << offset;
    }
    // The readable summary on stdout escapes them.
    for (char c : out.str()) EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 || c == '\n');
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace sdoh
