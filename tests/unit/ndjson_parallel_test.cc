// fhir/ndjson_parallel.h (issue 17): the lines come back in file order with exactly what the
// one-thread read gives — numbers, lengths, too-long lines, parse failures and their messages,
// and the parsed values — whatever the thread count and however small the chunks.
#include "fhir/ndjson_parallel.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"
#include "fhir/ndjson_reader.h"

namespace fhir {
namespace {

// One line as a string that compares everything a reader of the line can see.
std::string Describe(uint64_t number, bool too_long, uint64_t length, json::ParseFailure f,
                     const std::string& error, const rapidjson::Value& value) {
  std::string s = std::to_string(number) + (too_long ? " too-long " : " ") +
                  std::to_string(length) + " " + std::string(json::ParseFailureName(f));
  if (too_long) return s;
  if (f != json::ParseFailure::kNone) return s + " " + error;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  value.Accept(w);
  return s + " " + buf.GetString();
}

std::vector<std::string> ReadOneThread(const std::string& path, size_t max_line_bytes) {
  NdjsonReader reader(path, {max_line_bytes, 4096});
  EXPECT_TRUE(reader.Open().ok());
  json::LineParser parser(8);
  std::vector<std::string> out;
  NdjsonReader::Line line;
  std::string error;
  while (reader.Next(&line)) {
    json::ParseFailure f = json::ParseFailure::kNone;
    if (!line.too_long) f = parser.Parse(line.data, line.size, &error);
    out.push_back(Describe(line.number, line.too_long, line.length, f, error, parser.document()));
  }
  return out;
}

std::vector<std::string> ReadParallel(const std::string& path, size_t max_line_bytes,
                                      size_t threads, size_t chunk_bytes) {
  NdjsonReader reader(path, {max_line_bytes, 4096});
  EXPECT_TRUE(reader.Open().ok());
  std::vector<std::string> out;
  ParallelNdjsonParser lines(reader, {threads, 8, chunk_bytes});
  while (const ParallelNdjsonParser::Line* l = lines.Next()) {
    out.push_back(Describe(l->number, l->too_long, l->length, l->failure, l->error, l->value));
  }
  EXPECT_TRUE(reader.status().ok());
  return out;
}

class NdjsonParallelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("sdoh-ndjson-parallel-" + std::to_string(::getpid()) + ".ndjson"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  // Every kind of line, many times over, each one different (its index in it).
  void WriteMixedFile(int repeats) {
    std::ofstream f(path_, std::ios::binary);
    for (int i = 0; i < repeats; ++i) {
      const std::string n = std::to_string(i);
      f << R"({"resourceType":"Patient","id":"p)" << n << R"(","n":)" << n << "}\n";
      f << "\n   \t\n";                            // blank lines: numbered, not returned
      f << R"({"id":"crlf)" << n << "\"}\r\n";     // CRLF
      f << "{\"broken\":" << n << "\n";            // malformed
      f << "{\"bad\":\"\xC3\x28" << n << "\"}\n";  // invalid UTF-8
      f << "[[[[[[[[[[" << n << "]]]]]]]]]]\n";    // deeper than 8
      f << "{\"nul\":1}" << std::string(1, '\0') << n << "\n";
      f << "{\"long\":\"" << std::string(300 + i % 7, 'x') << "\"}\n";  // over 256 bytes
      f << "42\n";
    }
    f << R"({"last":"no newline"})";
  }
  std::string path_;
};

TEST_F(NdjsonParallelTest, SameLinesInFileOrderAsTheOneThreadRead) {
  WriteMixedFile(500);
  const std::vector<std::string> expected = ReadOneThread(path_, 256);
  ASSERT_GT(expected.size(), 4000u);
  EXPECT_NE(expected[2].find("malformed-json"), std::string::npos) << expected[2];
  // Chunks of one line, of a few lines, and larger than the file; 1 to 4 threads.
  for (size_t chunk : {1, 100, 4096, 1 << 20}) {
    for (size_t threads : {1, 2, 3, 4}) {
      const std::vector<std::string> got = ReadParallel(path_, 256, threads, chunk);
      ASSERT_EQ(got.size(), expected.size()) << "chunk " << chunk << " threads " << threads;
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], expected[i])
            << "line " << i << ", chunk " << chunk << ", threads " << threads;
      }
    }
  }
}

TEST_F(NdjsonParallelTest, EmptyFileAndEarlyStop) {
  { std::ofstream f(path_); }
  EXPECT_TRUE(ReadParallel(path_, 256, 3, 64).empty());
  WriteMixedFile(200);
  // The caller stops after a few lines: the destructor stops and joins the workers.
  NdjsonReader reader(path_, {256, 4096});
  ASSERT_TRUE(reader.Open().ok());
  ParallelNdjsonParser lines(reader, {2, 8, 64});
  for (int i = 0; i < 5; ++i) ASSERT_NE(lines.Next(), nullptr);
}

size_t ThreadsOfThisProcess() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// N threads in all, the caller's included (not N workers beside it: N + 1 threads on N cores
// make the caller, the run's critical path, wait for a core), and at 1 the caller alone.
TEST_F(NdjsonParallelTest, TheCallerIsOneOfTheThreads) {
  WriteMixedFile(200);
  const std::vector<std::string> expected = ReadOneThread(path_, 256);
  for (size_t threads : {1, 2, 3}) {
    const size_t before = ThreadsOfThisProcess();
    NdjsonReader reader(path_, {256, 4096});
    ASSERT_TRUE(reader.Open().ok());
    ParallelNdjsonParser lines(reader, {threads, 8, 64});
    EXPECT_EQ(ThreadsOfThisProcess(), before + threads - 1) << threads << " threads";
    size_t i = 0;
    while (const ParallelNdjsonParser::Line* line = lines.Next()) {
      ASSERT_LT(i, expected.size());
      EXPECT_EQ(Describe(line->number, line->too_long, line->length, line->failure, line->error,
                         line->value),
                expected[i])
          << "line " << i << ", threads " << threads;
      ++i;
    }
    EXPECT_EQ(i, expected.size()) << threads << " threads";
  }
}

TEST(AvailableCoresTest, AtLeastOne) { EXPECT_GE(AvailableCores(), 1u); }

}  // namespace
}  // namespace fhir
