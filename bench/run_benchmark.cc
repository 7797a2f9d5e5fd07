// The `run` benchmark (issue: core job §6; issue 17). In one process run, on the same files:
//   1. RapidJSON parse-only passes through the product's NDJSON reader (ParseInsitu, a reused
//      allocator): with RapidJSON's default flags (the plain in-situ limit), and with the strict
//      flags (UTF-8 validation, iterative parsing: every line's parse until 2026-12-06, still
//      every line's that the fast path does not take);
//   2. the same pass through the product's own line parser (fhir::json::LineParser: the ASCII
//      fast path, the strict parse, depth limit, NUL check) — the like-for-like ceiling of a
//      one-thread run;
//   3. the product's parallel parse (fhir::ParallelNdjsonParser) at the largest --threads count,
//      parse only — the ceiling of a parallel run — and the same parse on one thread (the
//      caller cuts and parses every chunk itself): what handing lines over in parsed chunks
//      costs against pass 2's line-by-line parse, before any thread is added;
//   4. the full `sdoh-bridge run --threads N` as a child process for each N of --threads, for
//      wall time, CPU, peak RSS and input read from the disk (wait4 rusage), and its two phases
//      (SDOH_TIMING);
//   5. with more than one thread: two `run --threads 1` started at once, each on its own output
//      folder — what two independent threads get from this machine, the ceiling for --threads 2,
//      and the CPU they spend together against twice one run's.
// Each round runs all of them in turn (alternating), each after a sync(2) so that none pays for
// the flush of an earlier one's output; the median of the rounds is reported, and the ratios
// within each round with their spread (the machine's load moves them from round to round).
//
// Usage: run_benchmark [--patients N] [--dir DIR] [--rounds R] [--threads 1,2] [--bin BIN]
//                      [--cpu C]
// (--bin: another sdoh-bridge build, e.g. to compare before/after under the same load;
//  --cpu: pin the benchmark and its children to CPU C, so every pass gets exactly one core)
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include "fhir/ndjson_parallel.h"
#include "fhir/ndjson_reader.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ParseStats {
  double seconds = 0;
  double cpu_seconds = 0;  // user + system of this process (its parse threads) during the pass
  uint64_t bytes = 0;
  uint64_t lines = 0;
};

// User + system seconds of a rusage.
double CpuSeconds(const rusage& ru) {
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return CpuSeconds(ru);
}

// Megabytes a rusage's process read from the disk rather than the page cache (Linux counts
// ru_inblock in 512-byte units). An input the kernel dropped from its cache between passes
// (on this project's VM a proactive reclaim drops file pages idle for a minute) is read again
// from the disk, and the pass that does so is slower for it.
double DiskReadMb(const rusage& ru) { return ru.ru_inblock * 512.0 / 1e6; }

double ProcessDiskReadMb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return DiskReadMb(ru);
}

template <unsigned kParseFlags>
ParseStats ParseOnly(const std::string& dir) {
  ParseStats st;
  constexpr size_t kBuf = 256 * 1024;
  std::unique_ptr<char[]> buffer(new char[kBuf]);
  rapidjson::MemoryPoolAllocator<> pool(buffer.get(), kBuf);
  const double cpu_start = ProcessCpuSeconds();
  auto start = Clock::now();
  for (const char* t : {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}) {
    fhir::NdjsonReader reader(dir + "/" + t + ".ndjson", {.max_line_bytes = 16u << 20});
    if (!reader.Open().ok()) continue;
    fhir::NdjsonReader::Line line;
    while (reader.Next(&line)) {
      rapidjson::Document doc(&pool);
      doc.ParseInsitu<kParseFlags>(line.data);
      if (doc.HasParseError()) std::fprintf(stderr, "parse error in %s\n", t);
      ++st.lines;
      pool.Clear();
    }
    st.bytes += reader.bytes_read();
  }
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  st.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  return st;
}

// The same pass through the product's own line parser (depth limit, NUL check): how much of
// the gap is the parser wrapper rather than screening work.
ParseStats ProductParserOnly(const std::string& dir) {
  ParseStats st;
  fhir::json::LineParser parser(64);
  std::string error;
  const double cpu_start = ProcessCpuSeconds();
  auto start = Clock::now();
  for (const char* t : {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}) {
    fhir::NdjsonReader reader(dir + "/" + t + ".ndjson", {.max_line_bytes = 16u << 20});
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
  st.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  return st;
}

// The product's parallel parse (fhir/ndjson_parallel.h) with `threads` threads, parse only
// (1: the caller cuts and parses every chunk itself).
ParseStats ParallelParserOnly(const std::string& dir, size_t threads) {
  ParseStats st;
  const double cpu_start = ProcessCpuSeconds();
  auto start = Clock::now();
  for (const char* t : {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}) {
    fhir::NdjsonReader reader(dir + "/" + t + ".ndjson", {.max_line_bytes = 16u << 20});
    if (!reader.Open().ok()) continue;
    fhir::ParallelNdjsonParser lines(reader, {threads, 64});
    while (const fhir::ParallelNdjsonParser::Line* line = lines.Next()) {
      if (line->failure != fhir::json::ParseFailure::kNone) {
        std::fprintf(stderr, "parse error in %s\n", t);
      }
      ++st.lines;
    }
    st.bytes += reader.bytes_read();
  }
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  st.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  return st;
}

struct ChildStats {
  double seconds = 0;
  double cpu_seconds = 0;     // user + system, all threads
  double system_seconds = 0;  // of which in the kernel (reading, writing, first touches)
  double disk_read_mb = 0;    // input read from the disk, not the page cache
  long max_rss_kb = 0;
  int exit_code = -1;
  double read_ms = -1;      // SDOH_TIMING: reading and normalising (the parallel parse)
  double evaluate_ms = -1;  // SDOH_TIMING: rules, plans and writing (one thread)
};

// Starts `argv` with stdout to /dev/null and stderr to `stderr_path` ("" = inherited).
pid_t StartChild(const std::vector<std::string>& argv, const std::string& stderr_path) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    if (!stderr_path.empty()) {
      int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) dup2(err, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

ChildStats WaitChild(pid_t pid, Clock::time_point start) {
  ChildStats st;
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  st.max_rss_kb = ru.ru_maxrss;
  st.cpu_seconds = CpuSeconds(ru);
  st.system_seconds = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  st.disk_read_mb = DiskReadMb(ru);
  st.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return st;
}

ChildStats RunChild(const std::vector<std::string>& argv) {
  const auto start = Clock::now();
  return WaitChild(StartChild(argv, ""), start);
}

// A `run` with SDOH_TIMING set: its two phases read from the line it prints on stderr.
ChildStats RunTimed(const std::vector<std::string>& argv, const std::string& stderr_path) {
  setenv("SDOH_TIMING", "1", 1);
  const auto start = Clock::now();
  ChildStats st = WaitChild(StartChild(argv, stderr_path), start);
  unsetenv("SDOH_TIMING");
  std::ifstream in(stderr_path);
  for (std::string line; std::getline(in, line);) {
    if (std::sscanf(line.c_str(), "timing: read+normalise %lf ms, rules+plan+write %lf ms",
                    &st.read_ms, &st.evaluate_ms) == 2) {
      break;
    }
  }
  return st;
}

// Two copies of one command started at once (the machine's own ceiling for two independent
// one-thread jobs): the wall time until both have ended and the CPU both spent together; -1
// for both when one failed.
struct PairStats {
  double seconds = -1;
  double cpu_seconds = -1;
};
PairStats RunPair(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const auto start = Clock::now();
  const pid_t pa = StartChild(a, "");
  const pid_t pb = StartChild(b, "");
  const ChildStats sa = WaitChild(pa, start);
  const ChildStats sb = WaitChild(pb, start);
  PairStats st;
  if (sa.exit_code == 0 && sb.exit_code == 0) {
    st.seconds = std::max(sa.seconds, sb.seconds);
    st.cpu_seconds = sa.cpu_seconds + sb.cpu_seconds;
  }
  return st;
}

// Writes what earlier passes left dirty in the page cache to disk before the next pass starts:
// a run writes its outputs (178 MB at 100k patients, 1.8 GB at 1M) and ends before the kernel
// has written them out, and that flush (vmstat: 178 MB bursts) then ran during the next pass,
// on the same two cores.
void Settle() { ::sync(); }

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

template <typename T>
T Median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "median (min-max)" of per-round values, each printed with `format`.
std::string Spread(const std::vector<double>& v, const char* format) {
  auto fmt = [&](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, format, x);
    return std::string(buf);
  };
  if (v.empty()) return "-";
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt(Median(v)) + " (" + fmt(*lo) + "-" + fmt(*hi) + ")";
}

int main(int argc, char** argv) {
  long patients = 100000;
  std::string dir;
  std::string bin_override;
  int rounds = 3;
  int cpu = -1;
  std::vector<size_t> thread_counts = {1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--patients") {
      patients = std::atol(argv[i + 1]);
    } else if (a == "--dir") {
      dir = argv[i + 1];
    } else if (a == "--rounds") {
      rounds = std::max(1, std::atoi(argv[i + 1]));
    } else if (a == "--bin") {
      bin_override = argv[i + 1];
    } else if (a == "--cpu") {
      cpu = std::atoi(argv[i + 1]);
    } else if (a == "--threads") {
      thread_counts.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string n; std::getline(list, n, ',');) {
        if (std::atoi(n.c_str()) > 0) thread_counts.push_back(std::atoi(n.c_str()));
      }
      if (thread_counts.empty()) thread_counts = {1};
    }
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
  auto run_args = [&](const std::string& source, size_t threads, const char* out = "/out") {
    return std::vector<std::string>{
        bin,    "run",   "--config",   config,      "--source",
        source, "--out", source + out, "--threads", std::to_string(threads)};
  };
  // Fixed overhead: the same binary on a tiny population.
  const std::string tiny = dir + "-tiny";
  if (!fs::exists(tiny + "/Patient.ndjson")) RunChild({gen, "--patients", "10", "--out", tiny});
  std::vector<ChildStats> base;
  for (size_t threads : thread_counts) base.push_back(RunChild(run_args(tiny, threads)));

  const size_t max_threads = *std::max_element(thread_counts.begin(), thread_counts.end());
  std::vector<double> plain_s, parse_s, product_s, parallel_s, chunked_s;
  std::vector<double> plain_cpu, parse_cpu, product_cpu, parallel_cpu, chunked_cpu;
  std::vector<std::vector<double>> run_s(thread_counts.size());
  std::vector<std::vector<long>> run_rss(thread_counts.size());
  std::vector<std::vector<double>> run_cpu(thread_counts.size()), run_sys(thread_counts.size());
  std::vector<std::vector<double>> run_disk(thread_counts.size());
  std::vector<double> parse_disk;  // the in-process parse passes of a round, together
  std::vector<std::vector<double>> run_read(thread_counts.size()), run_eval(thread_counts.size());
  std::vector<double> pair_s, pair_cpu;
  const std::string stderr_path = dir + "-run.stderr";
  ParseStats parse;
  for (int r = 0; r < rounds; ++r) {
    Settle();
    const double disk_start = ProcessDiskReadMb();
    const ParseStats plain = ParseOnly<rapidjson::kParseDefaultFlags>(dir);
    plain_s.push_back(plain.seconds);
    plain_cpu.push_back(plain.cpu_seconds);
    parse = ParseOnly<fhir::json::LineParser::kFlags>(dir);
    parse_s.push_back(parse.seconds);
    parse_cpu.push_back(parse.cpu_seconds);
    const ParseStats product = ProductParserOnly(dir);
    product_s.push_back(product.seconds);
    product_cpu.push_back(product.cpu_seconds);
    if (max_threads > 1) {
      const ParseStats chunked = ParallelParserOnly(dir, 1);
      chunked_s.push_back(chunked.seconds);
      chunked_cpu.push_back(chunked.cpu_seconds);
      const ParseStats parallel = ParallelParserOnly(dir, max_threads);
      parallel_s.push_back(parallel.seconds);
      parallel_cpu.push_back(parallel.cpu_seconds);
    }
    parse_disk.push_back(ProcessDiskReadMb() - disk_start);
    for (size_t k = 0; k < thread_counts.size(); ++k) {
      Settle();
      ChildStats c = RunTimed(run_args(dir, thread_counts[k]), stderr_path);
      if (c.exit_code != 0) {
        std::fprintf(stderr, "sdoh-bridge run exited %d (its stderr: %s)\n", c.exit_code,
                     stderr_path.c_str());
        return 1;
      }
      run_read[k].push_back(c.read_ms / 1e3);
      run_eval[k].push_back(c.evaluate_ms / 1e3);
      run_s[k].push_back(c.seconds);
      run_rss[k].push_back(c.max_rss_kb);
      run_cpu[k].push_back(c.cpu_seconds);
      run_sys[k].push_back(c.system_seconds);
      run_disk[k].push_back(c.disk_read_mb);
    }
    if (max_threads > 1) {
      Settle();
      const PairStats p = RunPair(run_args(dir, 1, "/out-pair-a"), run_args(dir, 1, "/out-pair-b"));
      pair_s.push_back(p.seconds);
      pair_cpu.push_back(p.cpu_seconds);
    }
  }
  const uint64_t screenings = CountScreenings(dir + "/out/summary.json");
  const double mb = parse.bytes / 1e6;
  const double product_mbs = mb / Median(product_s);
  std::printf(
      "input            %ld patients, %llu lines, %.1f MB; median of %d alternating rounds\n",
      patients, static_cast<unsigned long long>(parse.lines), mb, rounds);
  if (cpu >= 0) std::printf("cores            1 (pinned to CPU %d)\n", cpu);
  std::printf(
      "parse-only       %.2f s  %.1f MB/s  %.0f lines/s (RapidJSON, default flags: the plain "
      "in-situ limit); CPU %.2f s\n",
      Median(plain_s), mb / Median(plain_s), parse.lines / Median(plain_s), Median(plain_cpu));
  std::printf(
      "strict parse     %.2f s  %.1f MB/s  (RapidJSON, strict flags: UTF-8 validation, "
      "iterative); CPU %.2f s\n",
      Median(parse_s), mb / Median(parse_s), Median(parse_cpu));
  std::printf(
      "product parser   %.2f s  %.1f MB/s  (fhir::json::LineParser, one thread: ASCII fast path, "
      "else strict); CPU %.2f s\n",
      Median(product_s), product_mbs, Median(product_cpu));
  if (max_threads > 1) {
    std::printf(
        "chunked parser   %.2f s  %.1f MB/s  (fhir::ParallelNdjsonParser, 1 thread); CPU %.2f s "
        "= %.2fx the line-by-line parse's\n",
        Median(chunked_s), mb / Median(chunked_s), Median(chunked_cpu),
        Median(chunked_cpu) / Median(product_cpu));
    std::printf(
        "parallel parser  %.2f s  %.1f MB/s  (fhir::ParallelNdjsonParser, %zu threads); CPU %.2f "
        "s\n",
        Median(parallel_s), mb / Median(parallel_s), max_threads, Median(parallel_cpu));
  }
  double one_thread_mbs = 0;
  for (size_t k = 0; k < thread_counts.size(); ++k) {
    const double secs = Median(run_s[k]);
    const double mbs = mb / secs;
    if (thread_counts[k] == 1) one_thread_mbs = mbs;
    const long rss = Median(run_rss[k]);
    std::printf(
        "run --threads %zu  %.2f s  %.1f MB/s  %.0f screening resources/s  %.0f%% of the product "
        "parser (%.0f%% of the strict parse)",
        thread_counts[k], secs, mbs, screenings / secs, 100.0 * mbs / product_mbs,
        100.0 * Median(parse_s) / secs);
    if (one_thread_mbs > 0 && thread_counts[k] > 1) {
      std::printf("  %.2fx --threads 1", mbs / one_thread_mbs);
    }
    std::printf(
        "\n                 CPU %.2f s (kernel %.2f s); peak RSS %.1f MB (%.1f MB on 10 patients) "
        "= %.0f bytes/patient\n",
        Median(run_cpu[k]), Median(run_sys[k]), rss / 1024.0, base[k].max_rss_kb / 1024.0,
        (rss - base[k].max_rss_kb) * 1024.0 / patients);
    std::printf("                 input read from the disk, not the page cache: %s\n",
                Spread(run_disk[k], "%.0f MB").c_str());
    std::printf("                 read+normalise %.2f s, rules+plan+write %.2f s (SDOH_TIMING)\n",
                Median(run_read[k]), Median(run_eval[k]));
  }
  std::printf("parse passes     input read from the disk, not the page cache, in a round: %s\n",
              Spread(parse_disk, "%.0f MB").c_str());
  // The ratios within each round (its passes ran minutes apart at most): how far the load of
  // the machine moved them, which the medians above do not show.
  const size_t one_index = static_cast<size_t>(
      std::find(thread_counts.begin(), thread_counts.end(), size_t{1}) - thread_counts.begin());
  for (size_t k = 0; k < thread_counts.size(); ++k) {
    std::vector<double> of_parser, of_one;
    for (size_t r = 0; r < run_s[k].size(); ++r) {
      of_parser.push_back(100.0 * product_s[r] / run_s[k][r]);
      if (k != one_index && one_index < thread_counts.size()) {
        of_one.push_back(run_s[one_index][r] / run_s[k][r]);
      }
    }
    std::printf("per round        --threads %zu: %s of the product parser", thread_counts[k],
                Spread(of_parser, "%.0f%%").c_str());
    if (!of_one.empty()) std::printf("; %s --threads 1", Spread(of_one, "%.2fx").c_str());
    std::printf("\n");
  }
  if (max_threads > 1 && one_thread_mbs > 0) {
    // Two independent one-thread runs share nothing but the machine: the most two threads of
    // this machine give at all (memory bandwidth, shared caches, neighbours on a VM).
    const double pair = Median(pair_s);
    const double one = mb / one_thread_mbs;
    std::printf(
        "2 x --threads 1  %.2f s for both, started at once: the machine's ceiling for two threads "
        "is %.2fx one\n",
        pair, pair > 0 ? 2 * one / pair : 0.0);
    // Side by side, each of two one-thread runs spends more CPU than it does alone (memory,
    // caches and the host are shared): a --threads 2 run's CPU growth beyond that pair's is
    // the run's own cost of sharing the work.
    const double one_cpu = one_index < thread_counts.size() ? Median(run_cpu[one_index]) : 0;
    if (one_cpu > 0 && pair > 0) {
      std::printf("                 CPU %.2f s for both = %.2fx twice --threads 1's",
                  Median(pair_cpu), Median(pair_cpu) / (2 * one_cpu));
      for (size_t k = 0; k < thread_counts.size(); ++k) {
        if (thread_counts[k] > 1) {
          std::printf("; --threads %zu: %.2fx", thread_counts[k], Median(run_cpu[k]) / one_cpu);
        }
      }
      std::printf("\n");
    }
  }
  return 0;
}
