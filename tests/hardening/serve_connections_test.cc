// `serve` under a low descriptor limit (issue 13 #11): with `prlimit --nofile=48` and 80 idle
// connections the accept loop used to fail with EMFILE and retry at once, spinning, while new
// clients timed out. Now connections beyond `service.max_connections` (default sized from
// RLIMIT_NOFILE) are refused and closed at once, an accept that still runs out of descriptors
// pauses (a timer, not a retry loop), and /healthz answers again as soon as idle connections
// close. Outcomes only, never timings or CPU: every wait is a generous cap, and "refused at the
// cap" is told from "closed by the read timeout" by the idle connections still being open.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/hardening/child_process.h"

namespace sdoh::hardening {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr rlim_t kNofile = 48;
constexpr int kIdle = 80;

class ServeConnectionsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (serve_) {
      std::optional<int> code = serve_->Stop(SIGTERM, 60s);
      EXPECT_TRUE(code.has_value()) << "serve did not stop on SIGTERM";
      if (code) {
        EXPECT_EQ(*code, 0) << serve_->output();
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts serve with RLIMIT_NOFILE kNofile and `yaml` as its service config.
  void Start(const std::string& yaml) {
    dir_ = fs::temp_directory_path() /
           ("sdoh-connections-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "service.yaml") << yaml;
    serve_ = std::make_unique<ChildProcess>(
        SDOH_BRIDGE_BIN,
        std::vector<std::string>{"serve", "--config",
                                 std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml",
                                 "--service-config", (dir_ / "service.yaml").string(), "--listen",
                                 "127.0.0.1:0", "--no-auth"},
        kNofile);
    ASSERT_GT(serve_->pid(), 0);
    ASSERT_TRUE(serve_->WaitForOutput("listening on 127.0.0.1:", 120s)) << serve_->output();
    ASSERT_TRUE(serve_->WaitForOutput("\n", 10s)) << serve_->output();
    size_t at = serve_->output().find("listening on 127.0.0.1:") + 23;
    port_ = static_cast<uint16_t>(std::atoi(serve_->output().c_str() + at));
    ASSERT_GT(port_, 0) << serve_->output();
  }

  int Healthz() {
    Conn c(port_);
    if (!c.ok() || !c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")) return 0;
    return c.ReadResponse(30s) ? c.Status() : 0;
  }

  // Opens kIdle connections that send nothing.
  std::vector<std::unique_ptr<Conn>> OpenIdle() {
    std::vector<std::unique_ptr<Conn>> idle;
    for (int i = 0; i < kIdle; ++i) {
      idle.push_back(std::make_unique<Conn>(port_));
      EXPECT_TRUE(idle.back()->ok()) << i;
    }
    return idle;
  }

  fs::path dir_;
  std::unique_ptr<ChildProcess> serve_;
  uint16_t port_ = 0;
};

TEST_F(ServeConnectionsTest, BeyondTheDefaultCapConnectionsAreRefusedAndHealthzAnswersAgain) {
  // A read timeout far beyond the caps below: a closed connection was refused, not timed out.
  Start("service:\n  read_timeout_seconds: 600\n");
  ASSERT_TRUE(serve_->WaitForOutput("connections at once\n", 10s)) << serve_->output();
  const std::string& out = serve_->output();
  size_t at = out.find("at most ");
  ASSERT_NE(at, std::string::npos) << out;
  const int cap = std::atoi(out.c_str() + at + 8);
  ASSERT_GT(cap, 0);
  ASSERT_LT(cap, static_cast<int>(kNofile)) << "the default cap must leave descriptors free";
  ASSERT_LT(cap, kIdle);

  std::vector<std::unique_ptr<Conn>> idle = OpenIdle();
  // Every connection beyond the cap is closed by the server (a 503 or just the close) within
  // a generous cap; the first `cap` ones stay open.
  int closed = 0;
  std::vector<bool> gone(kIdle, false);
  const auto until = Clock::now() + 60s;
  while (closed < kIdle - cap && Clock::now() < until) {
    for (int i = 0; i < kIdle; ++i) {
      if (!gone[i] && idle[i]->ReadFor(10ms) == Conn::Read::kClosed) {
        gone[i] = true;
        ++closed;
      }
    }
  }
  EXPECT_EQ(closed, kIdle - cap) << "connections beyond the cap were not refused\n" << out;
  int open = 0;
  for (int i = 0; i < kIdle; ++i) {
    if (!gone[i] && idle[i]->ReadFor(0ms) == Conn::Read::kTimeout) ++open;
  }
  EXPECT_EQ(open, cap) << "the connections within the cap must still be open";
  EXPECT_EQ(serve_->output().find("Too many open files"), std::string::npos)
      << "accept ran out of descriptors below the cap\n"
      << serve_->output();

  // While full, a new client is refused too (not left hanging); once the idle ones close, it is
  // served.
  EXPECT_NE(Healthz(), 200);
  idle.clear();
  int health = 0;
  for (const auto stop = Clock::now() + 60s; health != 200 && Clock::now() < stop;) {
    health = Healthz();
  }
  EXPECT_EQ(health, 200) << serve_->output();
}

TEST_F(ServeConnectionsTest, OutOfDescriptorsPausesAcceptingAndHealthzAnswersAgain) {
  // A cap above what the descriptor limit allows: accept itself fails with EMFILE.
  Start("service:\n  read_timeout_seconds: 600\n  max_connections: 1000\n");
  std::vector<std::unique_ptr<Conn>> idle = OpenIdle();
  ASSERT_TRUE(serve_->WaitForOutput("pausing accepts", 60s)) << "no EMFILE back-off was reported\n"
                                                             << serve_->output();
  // One line per episode, not one per failed accept.
  const std::string& out = serve_->output();
  size_t lines = 0;
  for (size_t p = out.find("pausing accepts"); p != std::string::npos;
       p = out.find("pausing accepts", p + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << out;
  idle.clear();
  int health = 0;
  for (const auto stop = Clock::now() + 60s; health != 200 && Clock::now() < stop;) {
    health = Healthz();
  }
  EXPECT_EQ(health, 200) << serve_->output();
  EXPECT_TRUE(serve_->WaitForOutput("accept: resumed", 30s)) << serve_->output();
}

}  // namespace
}  // namespace sdoh::hardening
