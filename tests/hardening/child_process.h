// A child process for the hardening tests: the real `sdoh-bridge` binary with its stdout and
// stderr on a pipe, its memory readable from /proc while it runs, and its peak RSS from wait4
// when it ends. Loopback sockets with deadlines (poll), so a test never hangs on a misbehaving
// server: every wait has a generous cap and ends the test with a failure instead.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace sdoh::hardening {

using Clock = std::chrono::steady_clock;

class ChildProcess {
 public:
  // Starts `binary args...` with stdout+stderr on a pipe. pid() < 0 on failure. `nofile` > 0:
  // the child's RLIMIT_NOFILE (soft and hard), as `prlimit --nofile=N` would set it.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args, rlim_t nofile = 0) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      if (nofile > 0) {
        rlimit rl{nofile, nofile};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(126);
      }
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_fd_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(30));
    }
    if (out_fd_ >= 0) close(out_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

  // Reads output until it contains `text` (true) or the child ends / `cap` passes (false).
  bool WaitForOutput(const std::string& text, std::chrono::seconds cap) {
    const auto until = Clock::now() + cap;
    while (output_.find(text) == std::string::npos) {
      if (!ReadSome(until)) return false;
    }
    return true;
  }

  // Sends `sig` and collects the exit. Returns the exit code (128+signal when killed), or
  // nullopt when it did not end within `cap`.
  std::optional<int> Stop(int sig, std::chrono::seconds cap) {
    if (pid_ > 0 && !exited_) kill(pid_, sig);
    return Wait(cap);
  }

  // Waits for the exit, reading output meanwhile.
  std::optional<int> Wait(std::chrono::seconds cap) {
    const auto until = Clock::now() + cap;
    while (!exited_) {
      int status = 0;
      rusage ru{};
      pid_t r = wait4(pid_, &status, WNOHANG, &ru);
      if (r == pid_) {
        exited_ = true;
        max_rss_kb_ = ru.ru_maxrss;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (Clock::now() > until) return std::nullopt;
      ReadSome(std::min(until, Clock::now() + std::chrono::milliseconds(100)));
    }
    while (ReadSome(Clock::now() + std::chrono::milliseconds(200))) {
    }
    return exit_code_;
  }

  long max_rss_kb() const { return max_rss_kb_; }  // after Wait()

  // A field of /proc/<pid>/status in kB (VmHWM, VmPeak, VmRSS), or -1.
  long StatusKb(const std::string& field) const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
    }
    return -1;
  }

 private:
  // False at end of output or when `until` passed without data.
  bool ReadSome(Clock::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  long max_rss_kb_ = -1;
  std::string output_;
};

// A TCP connection to 127.0.0.1:port with poll-based deadlines.
class Conn {
 public:
  explicit Conn(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }
  // False when the peer has closed or reset the connection.
  bool Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  enum class Read { kData, kClosed, kTimeout };
  // Appends what arrives within `wait` to received().
  Read ReadFor(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return Read::kTimeout;
    char buf[8192];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return Read::kClosed;  // orderly close, or reset
    received_.append(buf, static_cast<size_t>(n));
    return Read::kData;
  }
  // Reads until the peer closes (true) or `cap` passes (false).
  bool ReadUntilClosed(std::chrono::seconds cap) {
    const auto until = Clock::now() + cap;
    while (Clock::now() < until) {
      if (ReadFor(std::chrono::milliseconds(200)) == Read::kClosed) return true;
    }
    return false;
  }
  // Reads until received() holds a whole HTTP response head and Content-Length body.
  bool ReadResponse(std::chrono::seconds cap) {
    const auto until = Clock::now() + cap;
    while (Clock::now() < until) {
      size_t head = received_.find("\r\n\r\n");
      if (head != std::string::npos) {
        size_t cl = received_.find("Content-Length: ");
        size_t want = cl == std::string::npos || cl > head
                          ? 0
                          : std::strtoul(received_.c_str() + cl + 16, nullptr, 10);
        if (received_.size() >= head + 4 + want) return true;
      }
      if (ReadFor(std::chrono::milliseconds(200)) == Read::kClosed) {
        return received_.find("\r\n\r\n") != std::string::npos;
      }
    }
    return false;
  }
  const std::string& received() const { return received_; }
  int Status() const {
    return received_.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(received_.c_str() + 9) : 0;
  }

 private:
  int fd_ = -1;
  std::string received_;
};

}  // namespace sdoh::hardening
