// Helpers shared by the end-to-end tests: files, lines, running the CLI, and the real FHIR test
// server (tests/fhir-server, Medplum on Node) started on a free loopback port.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

namespace sdoh::test {

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Non-empty lines.
inline std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Every file under a run's `out` folder, by path relative to it, with the run id (random per
// run, from summary.json) replaced by "RUN"; empty when summary.json has no run id.
inline std::map<std::string, std::string> OutputsWithRunIdMasked(const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  rapidjson::Document summary;
  summary.Parse(ReadFile(out / "summary.json").c_str());
  if (summary.HasParseError() || !summary.IsObject() || !summary.HasMember("run") ||
      !summary["run"].IsString()) {
    return {};
  }
  const std::string run_id = summary["run"].GetString();
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (!e.is_regular_file()) continue;
    std::string text = ReadFile(e.path());
    for (size_t at = 0; !run_id.empty() && (at = text.find(run_id, at)) != std::string::npos;) {
      text.replace(at, run_id.size(), "RUN");
    }
    files[fs::relative(e.path(), out).string()] = std::move(text);
  }
  return files;
}

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `<binary> <args>` through the shell and collects its output.
inline CliResult RunBinary(const std::string& binary, const std::string& args) {
  CliResult r;
  std::string cmd = binary + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A fresh, empty folder for one test: <temp>/<prefix>-<pid>-<name> (name: the test's name).
inline std::filesystem::path FreshTestDir(const std::string& prefix, const std::string& name) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / (prefix + "-" + std::to_string(getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The FHIR test server on a free loopback port (PORT=0, PORT_FILE), stopped with SIGTERM when
// destroyed. Validation is off: one sample carries a zone-less time on purpose.
class FhirServerProcess {
 public:
  explicit FhirServerProcess(std::string source_dir) : source_dir_(std::move(source_dir)) {}
  FhirServerProcess(const FhirServerProcess&) = delete;
  FhirServerProcess& operator=(const FhirServerProcess&) = delete;

  // False with `why` when the server cannot run here (npm ci not done, node missing).
  bool Start(std::string* why) {
    namespace fs = std::filesystem;
    fs::path dir = fs::path(source_dir_) / "tests/fhir-server";
    if (!fs::exists(dir / "node_modules")) {
      *why = "run `npm ci` in " + dir.string() + " (scripts/test.sh does)";
      return false;
    }
    static int n = 0;
    port_file_ = fs::temp_directory_path() /
                 ("sdoh-fhir-port-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    fs::remove(port_file_);
    pid_ = fork();
    if (pid_ == 0) {
      setenv("PORT", "0", 1);
      setenv("PORT_FILE", port_file_.c_str(), 1);
      setenv("VALIDATE", "0", 1);
      std::string script = (dir / "server.mjs").string();
      execlp("node", "node", script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 600 && !fs::exists(port_file_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!fs::exists(port_file_)) {
      *why = "the FHIR test server did not start";
      return false;
    }
    std::string port = ReadFile(port_file_);
    while (!port.empty() && (port.back() == '\n' || port.back() == ' ')) port.pop_back();
    base_url_ = "http://127.0.0.1:" + port + "/fhir";
    return true;
  }
  ~FhirServerProcess() {
    Stop();
    std::error_code ec;
    std::filesystem::remove(port_file_, ec);
  }
  // SIGTERM and wait (a test of what happens when the server goes away). Idempotent.
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  const std::string& base_url() const { return base_url_; }

 private:
  std::string source_dir_;
  pid_t pid_ = -1;
  std::filesystem::path port_file_;
  std::string base_url_;
};

}  // namespace sdoh::test
