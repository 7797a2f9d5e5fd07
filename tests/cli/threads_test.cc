// `run --threads N` (issue 17): every output file is byte-identical to --threads 1 — on a
// generated population (bench/generate_population) with bad lines, repeated and conflicting
// versions added at the end of each file (so that the versions of one resource land in other
// chunks than the first), and on samples/. Only the run id, random per run, is masked.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "fhir/ndjson_parallel.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;

const std::string kSource = SDOH_SOURCE_DIR;
const std::string kConfig = kSource + "/config/sdoh-bridge.yaml";

// Runs at 1, 2 and 3 threads (and with the config's default) and compares every output file.
void ExpectSameOutputsAtEveryThreadCount(const fs::path& source, const fs::path& work) {
  std::map<std::string, std::string> one;
  for (const char* threads : {"1", "2", "3", ""}) {
    const fs::path out = work / (std::string("out-") + (*threads ? threads : "default"));
    std::string args = "run --config " + kConfig + " --source " + source.string() + " --out " +
                       out.string() + " --now 2026-06-01T00:00:00Z";
    if (*threads) args += std::string(" --threads ") + threads;
    sdoh::test::CliResult r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, args);
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.exit_code << "\n" << r.output;
    std::map<std::string, std::string> files = sdoh::test::OutputsWithRunIdMasked(out);
    ASSERT_GE(files.size(), 3u) << out;
    if (one.empty()) {
      one = std::move(files);
      continue;
    }
    ASSERT_EQ(files.size(), one.size()) << "threads " << threads;
    for (const auto& [name, text] : one) {
      ASSERT_TRUE(files.count(name)) << name << " missing at threads " << threads;
      EXPECT_TRUE(files[name] == text) << name << " differs at threads " << threads;
    }
  }
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  return !f.fail();
}

// A cgroup whose CPU quota is one core, made for the test when this machine allows it (root
// with a writable cgroup v1 cpu hierarchy, or cgroup v2 with the cpu controller); removed after.
class OneCoreCgroup {
 public:
  OneCoreCgroup() {
    const std::string name = "sdoh-threads-" + std::to_string(getpid());
    for (const char* v1 : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
      if (!fs::exists(std::string(v1) + "/cpu.cfs_quota_us")) continue;
      if (Make(std::string(v1) + "/" + name) && WriteText(dir_ + "/cpu.cfs_period_us", "100000") &&
          WriteText(dir_ + "/cpu.cfs_quota_us", "100000")) {
        join_ = dir_ + "/tasks";
        return;
      }
      Remove();
      why_ += std::string(v1) + ": cannot make a cgroup with a quota; ";
    }
    const std::string v2 = "/sys/fs/cgroup";
    if (sdoh::test::ReadFile(v2 + "/cgroup.controllers").find("cpu") != std::string::npos) {
      (void)WriteText(v2 + "/cgroup.subtree_control", "+cpu");
      if (Make(v2 + "/" + name) && WriteText(dir_ + "/cpu.max", "100000 100000")) {
        join_ = dir_ + "/cgroup.procs";
        return;
      }
      Remove();
      why_ += v2 + ": cannot make a cgroup with cpu.max; ";
    }
    why_ += "no cgroup cpu controller this test may use";
  }
  ~OneCoreCgroup() { Remove(); }
  bool ok() const { return !join_.empty(); }
  const std::string& why() const { return why_; }
  // A shell command that moves itself into the cgroup, then runs `command`.
  std::string Wrap(const std::string& command) const {
    return "-c 'echo $$ > " + join_ + " && exec " + command + "'";
  }

 private:
  bool Make(const std::string& dir) {
    if (mkdir(dir.c_str(), 0755) != 0) return false;
    dir_ = dir;
    return true;
  }
  void Remove() {
    if (!dir_.empty()) rmdir(dir_.c_str());
    dir_.clear();
  }
  std::string dir_, join_, why_;
};

// The `threads` line of a run's console summary.
std::optional<int> ThreadsLine(const std::string& output) {
  const size_t at = output.find("\n  threads     ");
  if (at == std::string::npos) return std::nullopt;
  return std::stoi(output.substr(at + 15));
}

class ThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sdoh-threads-XXXXXX";
    work_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(work_, ec);
  }
  fs::path work_;
};

TEST_F(ThreadsTest, GeneratedPopulationOutputsAreByteIdenticalAtOneTwoThreeThreads) {
  const fs::path source = work_ / "population";
  sdoh::test::CliResult gen = sdoh::test::RunBinary(
      SDOH_GENERATOR_BIN, "--patients 1500 --seed 17 --out " + source.string());
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  // Later versions and bad lines at the end of each file, far (many chunks) from the first
  // version: the versions of one resource are read by different threads.
  for (const char* type : {"Patient", "QuestionnaireResponse", "Observation", "Questionnaire"}) {
    const fs::path file = source / (std::string(type) + ".ndjson");
    std::ifstream in(file);
    std::string line;
    std::vector<std::string> firsts;
    while (std::getline(in, line) && firsts.size() < 5) {
      if (!line.empty()) firsts.push_back(line);
    }
    in.close();
    ASSERT_FALSE(firsts.empty()) << file;
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << firsts[0] << "\n";  // the same line again (harmless)
    out << "{\"resourceType\":\"" << type << "\",\"id\":\"broken\n";  // malformed
    out << "{\"resourceType\":\"" << type << "\",\"id\":\"nul\"}" << std::string(1, '\0') << "\n";
    out << "\n"
        << "[1,2]\n";
    for (const std::string& l : firsts) {
      // A later version of an early resource (newest wins across chunks), and one with the same
      // id and version as another but other content (conflicting versions).
      std::string v = l;
      const size_t brace = v.rfind('}');
      if (brace == std::string::npos) continue;
      out << v.substr(0, brace) << ",\"meta\":{\"versionId\":\"7\"}}\n";
      out << v.substr(0, brace) << ",\"meta\":{\"versionId\":\"7\"},\"language\":\"fr\"}\n";
    }
  }
  ExpectSameOutputsAtEveryThreadCount(source, work_);
}

TEST_F(ThreadsTest, SamplesOutputsAreByteIdenticalAtOneTwoThreeThreads) {
  ExpectSameOutputsAtEveryThreadCount(kSource + "/samples", work_);
}

// A mistyped count is refused before anything is read, naming the limit (and, in a config, the
// file and line), instead of a run that dies allocating threads and chunks it cannot have.
TEST_F(ThreadsTest, ThreadCountsAboveTheLimitAreRefusedNamingIt) {
  const std::string common = " --source " + kSource + "/samples --out " + (work_ / "out").string() +
                             " --now 2026-06-01T00:00:00Z";
  sdoh::test::CliResult r =
      sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "run --config " + kConfig + common + " --threads 257");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--threads needs a number from 1 to 256"), std::string::npos) << r.output;
  r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "run --config " + kConfig + common + " --threads 256");
  EXPECT_EQ(r.exit_code, 0) << r.output;

  auto config_with = [&](const std::string& threads) {
    const fs::path cfg = work_ / "config.yaml";
    std::ofstream f(cfg);
    f << "source: " << kSource << "/samples\nout: " << (work_ / "out").string()
      << "\nmappings: " << kSource << "/mappings\nrules: [" << kSource
      << "/config/rules/sdoh-default.yaml]\n"
      << "referrals: {identifier_system: 'urn:sdoh-bridge:referral'}\nthreads: " << threads << "\n";
    return cfg.string();
  };
  r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "run --config " + config_with("100000") +
                                                 " --source " + kSource + "/samples --out " +
                                                 (work_ / "refused").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_FALSE(fs::exists(work_ / "refused")) << "nothing is written";
  EXPECT_NE(r.output.find("config.yaml:6:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'threads' must be 1 to 256"), std::string::npos) << r.output;
  r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, "run --config " + config_with("3") + common);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// The default thread count is the cores the process may use: in a container or a cgroup with a
// CPU quota of one core on a machine with more, that is one, not the affinity mask's count.
TEST_F(ThreadsTest, TheDefaultThreadCountHonoursTheCgroupsCpuQuota) {
  const std::string run = std::string(SDOH_BRIDGE_BIN) + " run --config " + kConfig + " --source " +
                          kSource + "/samples --now 2026-06-01T00:00:00Z --out ";
  sdoh::test::CliResult outside = sdoh::test::RunBinary(run, (work_ / "outside").string());
  ASSERT_TRUE(outside.exit_code == 0 || outside.exit_code == 3) << outside.output;
  ASSERT_EQ(ThreadsLine(outside.output), static_cast<int>(fhir::AvailableCores()))
      << outside.output;
  if (fhir::AvailableCores() < 2) GTEST_SKIP() << "one core here: a one-core quota changes nothing";
  OneCoreCgroup cgroup;
  if (!cgroup.ok()) GTEST_SKIP() << cgroup.why();
  sdoh::test::CliResult inside =
      sdoh::test::RunBinary("sh", cgroup.Wrap(run + (work_ / "inside").string()));
  ASSERT_TRUE(inside.exit_code == 0 || inside.exit_code == 3) << inside.output;
  EXPECT_EQ(ThreadsLine(inside.output), 1) << inside.output;
  // An explicit count is taken as given, quota or not.
  sdoh::test::CliResult asked =
      sdoh::test::RunBinary("sh", cgroup.Wrap(run + (work_ / "asked").string() + " --threads 3"));
  ASSERT_TRUE(asked.exit_code == 0 || asked.exit_code == 3) << asked.output;
  EXPECT_EQ(ThreadsLine(asked.output), 3) << asked.output;
  // Same outputs either way.
  EXPECT_EQ(sdoh::test::OutputsWithRunIdMasked(work_ / "inside"),
            sdoh::test::OutputsWithRunIdMasked(work_ / "outside"));
}

}  // namespace
