// What two cores of this machine give two independent processes, by kind of work (issue 17):
//   compute  a multiply-xor loop in registers (no memory traffic);
//   latency  dependent-free random 8-byte reads over 1 GiB (a cache miss each);
//   copy     memcpy of a 256 MiB buffer to another, over and over (memory bandwidth);
//   faults   first touches of fresh anonymous memory (a page fault per 4 KiB page: what a
//            growing process pays; costly under some hypervisors).
// Each kernel runs in a child process, alone and then two at once; the children fill their
// memory first and start the timed part together (a pipe is the barrier), so page faults and
// start-up are not timed. Printed per kernel, median of the rounds: the seconds alone, the
// slower child's seconds in the pair, and the pair's throughput against one (2 x alone / pair).
// A `run --threads 2` cannot beat the pair figure of the work it is bound by: the run's
// benchmark (run_benchmark) measures the same for two `run --threads 1`.
//
// Usage: pair_ceiling [--rounds R]
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Keeps a result alive so the compiler cannot drop the loop that made it.
volatile uint64_t g_sink = 0;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Kernel {
  const char* name;
  const char* what;
  void (*prepare)();
  void (*run)();
};

constexpr uint64_t kMul = 6364136223846793005ull;
constexpr uint64_t kAdd = 1442695040888963407ull;

void NoPrepare() {}
void Compute() {
  uint64_t x = 1;
  for (uint64_t i = 0; i < 1200000000ull; ++i) {
    x = x * kMul + kAdd;
    x ^= x >> 29;
  }
  g_sink = x;
}

constexpr size_t kLatencyWords = size_t{1} << 27;  // 1 GiB of 8-byte words
std::unique_ptr<uint64_t[]> g_words;
void PrepareLatency() {
  g_words.reset(new uint64_t[kLatencyWords]);
  for (size_t i = 0; i < kLatencyWords; ++i) g_words[i] = i;
}
void Latency() {
  uint64_t x = 12345, sum = 0;
  for (size_t i = 0; i < 80000000; ++i) {
    x = x * kMul + kAdd;
    sum += g_words[(x >> 20) & (kLatencyWords - 1)];
  }
  g_sink = sum;
}

constexpr size_t kCopyBytes = size_t{256} << 20;
std::unique_ptr<char[]> g_from, g_to;
void PrepareCopy() {
  g_from.reset(new char[kCopyBytes]);
  g_to.reset(new char[kCopyBytes]);
  std::memset(g_from.get(), 1, kCopyBytes);
  std::memset(g_to.get(), 2, kCopyBytes);
}
void Copy() {
  for (int k = 0; k < 48; ++k) {
    std::memcpy(g_to.get(), g_from.get(), kCopyBytes);
    g_from[static_cast<size_t>(k) * 4096] = g_to[static_cast<size_t>(k) * 8192];
  }
  g_sink = static_cast<uint64_t>(g_to[12345]);
}

constexpr size_t kFaultBytes = size_t{128} << 20;
void Faults() {
  uint64_t sum = 0;
  for (int k = 0; k < 4; ++k) {
    void* p =
        mmap(nullptr, kFaultBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(1);
    (void)madvise(p, kFaultBytes, MADV_NOHUGEPAGE);  // 4 KiB pages: one fault each
    char* c = static_cast<char*>(p);
    for (size_t i = 0; i < kFaultBytes; i += 4096) c[i] = static_cast<char>(i >> 12);
    sum += static_cast<uint64_t>(c[kFaultBytes / 2]);
    munmap(p, kFaultBytes);
  }
  g_sink = sum;
}

// Starts `n` children that prepare, wait for the start signal, run the kernel and report its
// seconds; returns them (empty on a failure).
std::vector<double> RunChildren(const Kernel& k, int n) {
  int ready[2], start[2], report[2];
  if (pipe(ready) != 0 || pipe(start) != 0 || pipe(report) != 0) return {};
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid < 0) return {};
    if (pid == 0) {
      k.prepare();
      char c = 'r';
      if (write(ready[1], &c, 1) != 1 || read(start[0], &c, 1) != 1) _exit(1);
      const Clock::time_point t = Clock::now();
      k.run();
      const double s = Seconds(t);
      _exit(write(report[1], &s, sizeof s) == sizeof s ? 0 : 1);
    }
    pids.push_back(pid);
  }
  bool ok = true;
  for (int i = 0; i < n && ok; ++i) {
    char c = 0;
    ok = read(ready[0], &c, 1) == 1;
  }
  const std::string go(static_cast<size_t>(n), 'g');
  ok = ok && write(start[1], go.data(), go.size()) == static_cast<ssize_t>(go.size());
  std::vector<double> seconds;
  for (int i = 0; i < n && ok; ++i) {
    double s = 0;
    ok = read(report[0], &s, sizeof s) == sizeof s;
    if (ok) seconds.push_back(s);
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  for (int fd : {ready[0], ready[1], start[0], start[1], report[0], report[1]}) close(fd);
  return ok ? seconds : std::vector<double>{};
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: pair_ceiling [--rounds R]\n");
      return 2;
    }
  }
  const Kernel kernels[] = {
      {"compute", "registers only", NoPrepare, Compute},
      {"latency", "random reads over 1 GiB", PrepareLatency, Latency},
      {"copy", "memcpy of 256 MiB buffers", PrepareCopy, Copy},
      {"faults", "first touch of 4 KiB pages", NoPrepare, Faults},
  };
  std::printf("pair_ceiling: %d round(s); two processes at once against one alone\n", rounds);
  for (const Kernel& k : kernels) {
    std::vector<double> alone, pair;
    for (int r = 0; r < rounds; ++r) {
      const std::vector<double> one = RunChildren(k, 1);
      const std::vector<double> two = RunChildren(k, 2);
      if (one.size() != 1 || two.size() != 2) {
        std::fprintf(stderr, "pair_ceiling: a %s child failed\n", k.name);
        return 1;
      }
      alone.push_back(one[0]);
      pair.push_back(std::max(two[0], two[1]));
    }
    const double a = Median(alone), p = Median(pair);
    std::printf("  %-8s (%s): alone %.2f s, pair %.2f s -> %.2fx one\n", k.name, k.what, a, p,
                p > 0 ? 2 * a / p : 0.0);
  }
  return 0;
}
