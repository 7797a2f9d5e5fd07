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

std::vector<std::string> ReadOneThread(const std::string& path, size_t max_line_bytes,
                                       size_t reader_bytes = 4096) {
  NdjsonReader reader(path, {max_line_bytes, reader_bytes});
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
                                      size_t threads, size_t chunk_bytes,
                                      size_t reader_bytes = 4096) {
  NdjsonReader reader(path, {max_line_bytes, reader_bytes});
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

// The last line has no newline and is longer than half the reader's buffer: looking for its
// end, the reader moves it to a larger buffer and then meets the end of the file. The line must
// be read from where it now is (it was read from the freed buffer before).
TEST_F(NdjsonParallelTest, ALastLineWithoutNewlineThatOutgrowsTheBuffer) {
  const std::string last = R"({"last":")" + std::string(3000, 'x') + R"("})";
  {
    std::ofstream f(path_, std::ios::binary);
    f << R"({"first":1})"
      << "\n"
      << last;
  }
  const std::vector<std::string> expected = {"1 11 none " + std::string(R"({"first":1})"),
                                             "2 " + std::to_string(last.size()) + " none " + last};
  EXPECT_EQ(ReadOneThread(path_, 1 << 20), expected);
  for (size_t threads : {1, 2}) {
    EXPECT_EQ(ReadParallel(path_, 1 << 20, threads, 64), expected) << threads << " threads";
  }
}

// A line's verdict and length do not depend on the reader's buffer, so a parallel read may
// use buffers of another size than the one-thread read: a line over the limit that ends in
// "\r\n" is as long without its '\r' whether it was read whole or streamed past (the streamed
// one counted the '\r' before), a line of the limit's length plus "\r\n" is read, and a blank
// line over the limit is skipped (the streamed one was reported too long).
TEST_F(NdjsonParallelTest, TheSameLinesWhateverTheReadersBufferSize) {
  const auto json_of = [](size_t n) { return R"({"a":")" + std::string(n - 8, 'x') + R"("})"; };
  {
    std::ofstream f(path_, std::ios::binary);
    for (int i = 0; i < 40; ++i) {
      f << json_of(10 + (i * 7) % 50) << "\n";  // moves the others across buffer boundaries
      f << json_of(256) << "\r\n" << json_of(257) << "\r\n";
      f << json_of(256) << "\n" << json_of(257) << "\n";
      f << std::string(300 + i, ' ') << "\n" << std::string(300, '\t') << "\r\n";
      f << std::string(150, ' ') << "\r" << std::string(150 + i, ' ') << "\n";
      f << json_of(1000 + i) << "\r\n";
    }
    f << json_of(600) << "\r";  // the last line, no newline
  }
  const std::vector<std::string> expected = ReadOneThread(path_, 256, 1 << 16);
  ASSERT_EQ(expected.size(), 40u * 7 + 1);  // 9 lines each time, 2 blank
  EXPECT_EQ(expected[1], "2 256 none " + json_of(256));
  EXPECT_EQ(expected[2], "3 too-long 257 none");
  EXPECT_EQ(expected[5], "8 too-long 301 none");
  EXPECT_EQ(expected[6], "9 too-long 1000 none");
  EXPECT_EQ(expected.back(), std::to_string(40 * 9 + 1) + " too-long 600 none");
  for (size_t reader_bytes : {16, 64, 100, 255, 256, 257, 258, 4096}) {
    EXPECT_EQ(ReadOneThread(path_, 256, reader_bytes), expected) << reader_bytes << " bytes";
    EXPECT_EQ(ReadParallel(path_, 256, 2, 100, reader_bytes), expected) << reader_bytes;
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
