// The `run` benchmark (issue: core job §6). In one process run, on the same files:
//   1. a RapidJSON parse-only pass with the product's parse flags (ParseInsitu, a reused
//      allocator, UTF-8 validation, iterative parsing, full precision) through the product's
//      NDJSON reader — the ceiling;
//   2. the full `sdoh-bridge run` (screening, rules, planning, writing outputs) as a child
//      process, for wall time and peak RSS (wait4 rusage).
// Rounds alternate and the best of each is kept; only the same-run ratio is meaningful.
//
// Usage: run_benchmark [--patients N] [--dir DIR] [--rounds R] [--bin SDOH_BRIDGE] [--cpu C]
// (--bin: another sdoh-bridge build, e.g. to compare before/after under the same load;
//  --cpu: pin the benchmark and its children to CPU C, so the parse-only pass and the whole run,
//  every thread of it, get exactly one core: the one-thread figure)
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/json.h"
#include "fhir/ndjson_reader.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ParseStats {
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t lines = 0;
};

ParseStats ParseOnly(const std::string& dir) {
  ParseStats st;
  constexpr size_t kBuf = 256 * 1024;
  std::unique_ptr<char[]> buffer(new char[kBuf]);
  rapidjson::MemoryPoolAllocator<> pool(buffer.get(), kBuf);
  auto start = Clock::now();
  for (const char* t : {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}) {
    fhir::NdjsonReader reader(dir + "/" + t + ".ndjson", {16u << 20, 4u << 20});
    if (!reader.Open().ok()) continue;
    fhir::NdjsonReader::Line line;
    while (reader.Next(&line)) {
      rapidjson::Document doc(&pool);
      doc.ParseInsitu<fhir::json::LineParser::kFlags>(line.data);
      if (doc.HasParseError()) std::fprintf(stderr, "parse error in %s\n", t);
      ++st.lines;
      pool.Clear();
    }
    st.bytes += reader.bytes_read();
  }
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return st;
}

// The same pass through the product's own line parser (depth limit, NUL check): how much of
// the gap is the parser wrapper rather than screening work.
ParseStats ProductParserOnly(const std::string& dir) {
  ParseStats st;
  fhir::json::LineParser parser(64);
  std::string error;
  auto start = Clock::now();
  for (const char* t : {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}) {
    fhir::NdjsonReader reader(dir + "/" + t + ".ndjson", {16u << 20, 4u << 20});
    if (!reader.Open().ok()) continue;
    fhir::NdjsonReader::Line line;
    while (reader.Next(&line)) {
      if (parser.Parse(line.data, line.size, &error) != fhir::json::ParseFailure::kNone) {
        std::fprintf(stderr, "parse error in %s\n", t);
      }
      ++st.lines;
    }
    st.bytes += reader.bytes_read();
  }
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return st;
}

struct ChildStats {
  double seconds = 0;
  long max_rss_kb = 0;
  int exit_code = -1;
};

ChildStats RunChild(const std::vector<std::string>& argv) {
  ChildStats st;
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  st.max_rss_kb = ru.ru_maxrss;
  st.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return st;
}

uint64_t CountScreenings(const std::string& summary_path) {
  std::ifstream in(summary_path);
  std::stringstream ss;
  ss << in.rdbuf();
  rapidjson::Document d;
  d.Parse(ss.str().c_str());
  if (d.HasParseError() || !d.HasMember("resources_read")) return 0;
  uint64_t n = 0;
  for (const char* t : {"QuestionnaireResponse", "Observation"}) {
    if (d["resources_read"].HasMember(t)) n += d["resources_read"][t].GetUint64();
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  long patients = 100000;
  std::string dir;
  std::string bin_override;
  int rounds = 2;
  int cpu = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--patients")
      patients = std::atol(argv[i + 1]);
    else if (a == "--dir")
      dir = argv[i + 1];
    else if (a == "--rounds")
      rounds = std::atoi(argv[i + 1]);
    else if (a == "--bin")
      bin_override = argv[i + 1];
    else if (a == "--cpu")
      cpu = std::atoi(argv[i + 1]);
  }
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
      std::perror("sched_setaffinity");
      return 2;
    }
  }
  if (dir.empty()) dir = "/tmp/sdoh-bench-" + std::to_string(patients);
  const std::string gen = SDOH_GENERATOR_BIN;
  const std::string bin = bin_override.empty() ? SDOH_BRIDGE_BIN : bin_override;
  const std::string config = std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml";
  if (!fs::exists(dir + "/Patient.ndjson")) {
    std::printf("generating %ld patients into %s ...\n", patients, dir.c_str());
    std::fflush(stdout);
    RunChild({gen, "--patients", std::to_string(patients), "--out", dir});
  }
  // Fixed overhead: the same binary on a tiny population.
  const std::string tiny = dir + "-tiny";
  if (!fs::exists(tiny + "/Patient.ndjson")) RunChild({gen, "--patients", "10", "--out", tiny});
  ChildStats base =
      RunChild({bin, "run", "--config", config, "--source", tiny, "--out", tiny + "/out"});

  ParseStats best_parse, best_product_parse;
  ChildStats best_run;
  best_parse.seconds = best_product_parse.seconds = best_run.seconds = 1e18;
  for (int r = 0; r < rounds; ++r) {
    ParseStats p = ParseOnly(dir);
    if (p.seconds < best_parse.seconds) best_parse = p;
    ParseStats pp = ProductParserOnly(dir);
    if (pp.seconds < best_product_parse.seconds) best_product_parse = pp;
    ChildStats c =
        RunChild({bin, "run", "--config", config, "--source", dir, "--out", dir + "/out"});
    if (c.exit_code != 0) {
      std::fprintf(stderr, "sdoh-bridge run exited %d\n", c.exit_code);
      return 1;
    }
    if (c.seconds < best_run.seconds) best_run = c;
  }
  const uint64_t screenings = CountScreenings(dir + "/out/summary.json");
  const double mb = best_parse.bytes / 1e6;
  const double parse_mbs = mb / best_parse.seconds, run_mbs = mb / best_run.seconds;
  const double per_patient = (best_run.max_rss_kb - base.max_rss_kb) * 1024.0 / patients;
  std::printf("input            %ld patients, %llu lines, %.1f MB\n", patients,
              static_cast<unsigned long long>(best_parse.lines), mb);
  if (cpu >= 0) {
    std::printf("cores            1 (pinned to CPU %d: parse-only and every thread of the run)\n",
                cpu);
  }
  std::printf("parse-only       %.2f s  %.1f MB/s  %.0f lines/s\n", best_parse.seconds, parse_mbs,
              best_parse.lines / best_parse.seconds);
  std::printf(
      "product parser   %.2f s  %.1f MB/s  (the same pass through fhir::json::LineParser)\n",
      best_product_parse.seconds, mb / best_product_parse.seconds);
  std::printf("sdoh-bridge run  %.2f s  %.1f MB/s  %.0f screening resources/s (%s)\n",
              best_run.seconds, run_mbs, screenings / best_run.seconds,
              cpu >= 0 ? "one thread: on one core the run writes its output chunks itself"
                       : "one evaluating thread; output chunks written by a background thread");
  std::printf("ratio            %.0f%% of parse-only throughput (target >= 60%%)\n",
              100.0 * run_mbs / parse_mbs);
  std::printf(
      "peak RSS         %.1f MB (baseline %.1f MB on 10 patients) = %.0f bytes/patient "
      "(target < 1024)\n",
      best_run.max_rss_kb / 1024.0, base.max_rss_kb / 1024.0, per_patient);
  return 0;
}
