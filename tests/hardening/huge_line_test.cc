// A 100 MB NDJSON line (issue 7): `sdoh-bridge run` skips it as line-too-long (counted, with
// file and line), the lines after it are still read and flagged, and the line is never held
// in memory whole (the reader stops buffering at limits.max_line_bytes, 16 MiB by default).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "tests/hardening/child_process.h"

namespace sdoh::hardening {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Hvs(const std::string& id, const std::string& patient) {
  return R"({"resourceType":"QuestionnaireResponse","id":")" + id +
         R"(","status":"completed","questionnaire":"http://loinc.org/q/88121-9",)"
         R"("authored":"2024-05-01","subject":{"reference":"Patient/)" +
         patient +
         R"("},"item":[{"linkId":"/88122-7","answer":[{"valueCoding":{"system":)"
         R"("http://loinc.org","code":"LA28397-0"}}]}]})";
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(HugeLineTest, HundredMegabyteLineIsSkippedCountedAndTheRestCompletes) {
  const fs::path dir = fs::temp_directory_path() / ("sdoh-huge-line-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "src");
  constexpr size_t kLine = 100u << 20;
  {
    std::ofstream f(dir / "src" / "QuestionnaireResponse.ndjson", std::ios::binary);
    f << Hvs("before", "p1") << "\n";  // line 1
    // Line 2: a QuestionnaireResponse whose text is 100 MiB, written in pieces.
    f << R"({"resourceType":"QuestionnaireResponse","id":"huge","text":{"div":")";
    const std::string piece(1u << 20, 'x');
    for (size_t i = 0; i < kLine / piece.size(); ++i) f << piece;
    f << "\"}}\n";
    f << Hvs("after", "p2") << "\n";  // line 3
  }
  {
    std::ofstream f(dir / "src" / "Patient.ndjson");
    f << R"({"resourceType":"Patient","id":"p1"})"
      << "\n"
      << R"({"resourceType":"Patient","id":"p2"})"
      << "\n";
  }
  ASSERT_GT(fs::file_size(dir / "src" / "QuestionnaireResponse.ndjson"), kLine);

  ChildProcess run(SDOH_BRIDGE_BIN,
                   {"run", "--config", std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml",
                    "--source", (dir / "src").string(), "--out", (dir / "out").string()});
  ASSERT_GT(run.pid(), 0);
  std::optional<int> code = run.Wait(600s);
  ASSERT_TRUE(code.has_value()) << "the run did not end within 600 s";
  EXPECT_EQ(*code, 3) << run.output();  // done, some inputs skipped

  rapidjson::Document summary;
  summary.Parse(ReadAll(dir / "out" / "summary.json").c_str());
  ASSERT_FALSE(summary.HasParseError());
  ASSERT_TRUE(summary.HasMember("skipped"));
  EXPECT_EQ(summary["skipped"]["line-too-long"].GetUint64(), 1u);
  bool named = false;
  for (const auto& e : summary["skipped_examples"].GetArray()) {
    named |= std::string(e["where"].GetString()) ==
             (dir / "src" / "QuestionnaireResponse.ndjson").string() + ":2";
  }
  EXPECT_TRUE(named) << "the skip does not name file:2";
  // Both patients around the huge line were read and flagged.
  const std::string flags = ReadAll(dir / "out" / "flags.ndjson");
  EXPECT_NE(flags.find(R"("patient":"Patient/p1","flag":"food")"), std::string::npos) << flags;
  EXPECT_NE(flags.find(R"("patient":"Patient/p2","flag":"food")"), std::string::npos) << flags;
  // The line was never held whole: peak resident memory stays below its size.
  std::cout << "peak RSS of the run: " << run.max_rss_kb() << " kB\n";
  EXPECT_GT(run.max_rss_kb(), 0);
#if !defined(__SANITIZE_ADDRESS__)
  // (Not in the ASan build: its quarantine keeps freed buffers resident, up to 256 MB, which
  // would measure ASan rather than the reader.)
  EXPECT_LT(run.max_rss_kb(), static_cast<long>(kLine / 1024))
      << "peak RSS " << run.max_rss_kb() << " kB for a " << kLine / 1024 << " kB line";
#endif
  // Nothing of the line's content leaks into the readable summary.
  EXPECT_EQ(run.output().find("xxxxxxxx"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sdoh::hardening
