// OutputFile: whole or nothing, every byte in order, with and without its writer thread.
#include "plugin/outputs/output_file.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace sdoh {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sdoh-output-file-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes several MiB of numbered lines to an open file; returns what was written.
  static std::string WriteNumberedLines(OutputFile& f) {
    std::string expected;
    for (int i = 0; i < 120000; ++i) {
      std::string line = "{\"line\":" + std::to_string(i) + ",\"pad\":\"" +
                         std::string(static_cast<size_t>(i % 37), 'x') + "\"}";
      f.WriteLine(line);
      expected += line + "\n";
    }
    return expected;
  }
  // The same to `path`, opened here; committed when `commit`.
  std::string WriteLines(const std::string& path, bool commit) {
    OutputFile f(path);
    EXPECT_TRUE(f.Open().ok());
    std::string expected = WriteNumberedLines(f);
    if (commit) {
      EXPECT_TRUE(f.Commit().ok());
    }
    return expected;
  }
  std::filesystem::path dir_;
};

TEST_F(OutputFileTest, EveryByteInOrderWithTheWriterThread) {
  const std::string path = (dir_ / "a.ndjson").string();
  std::string expected = WriteLines(path, true);
  ASSERT_GT(expected.size(), 3u << 20);  // several chunks
  EXPECT_EQ(Slurp(path), expected);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // outputs hold patient ids and needs
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

// Pinned to one core (as the issue 2 benchmark runs it), the producer writes the chunks itself.
TEST_F(OutputFileTest, EveryByteInOrderOnOneCore) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &before)) {
      CPU_SET(c, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  const std::string path = (dir_ / "b.ndjson").string();
  std::string expected = WriteLines(path, true);
  ASSERT_EQ(sched_setaffinity(0, sizeof(before), &before), 0);
  EXPECT_EQ(Slurp(path), expected);
}

size_t ThreadsOfThisProcess() {
  const std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<size_t>(std::distance(begin(tasks), end(tasks)));
}

// Issue 17: when its owner keeps every core busy (`run --threads 2` on two cores), a file
// writes its own chunks — no thread is started — and still every byte, in order. Where it may
// use one, the thread is started at the first full chunk.
TEST_F(OutputFileTest, NoWriterThreadWhenTheOwnerSaysNoCoreIsLeft) {
  cpu_set_t cpus;
  ASSERT_EQ(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
  for (const bool allowed : {false, true}) {
    const std::string path = (dir_ / (allowed ? "d.ndjson" : "e.ndjson")).string();
    const size_t before = ThreadsOfThisProcess();
    OutputFile f(path);
    f.set_writer_thread(allowed);
    ASSERT_TRUE(f.Open().ok());
    const std::string expected = WriteNumberedLines(f);
    ASSERT_GT(expected.size(), 2u << 20);  // past the first full chunk either way
    const size_t during = ThreadsOfThisProcess();
    if (allowed && CPU_COUNT(&cpus) > 1) {
      EXPECT_EQ(during, before + 1) << "the writer thread";
    } else {
      EXPECT_EQ(during, before) << (allowed ? "one core: no thread" : "not allowed: no thread");
    }
    ASSERT_TRUE(f.Commit().ok());
    EXPECT_EQ(Slurp(path), expected);
  }
}

TEST_F(OutputFileTest, AnUncommittedFileLeavesNothing) {
  const std::string path = (dir_ / "c.ndjson").string();
  { std::ofstream(path) << "the previous run's output\n"; }
  WriteLines(path, false);
  EXPECT_EQ(Slurp(path), "the previous run's output\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

}  // namespace
}  // namespace sdoh
