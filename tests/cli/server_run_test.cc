// `sdoh-bridge run --source <FHIR base URL>`: the whole job against the real FHIR test server
// (tests/fhir-server, Medplum packages on Node) loaded with the samples, giving exactly the
// hand-written expected flags — the same as from the NDJSON folder.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"

namespace {

namespace fs = std::filesystem;
const std::string kSource = SDOH_SOURCE_DIR;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The FHIR test server on a free loopback port, validation off (one sample carries a
// zone-less time on purpose, which strict R4 validation rejects).
class Server {
 public:
  bool Start(std::string* why) {
    fs::path dir = kSource + "/tests/fhir-server";
    if (!fs::exists(dir / "node_modules")) {
      *why = "run `npm ci` in " + dir.string() + " (scripts/test.sh does)";
      return false;
    }
    port_file_ = fs::temp_directory_path() / ("sdoh-server-run-" + std::to_string(getpid()));
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
    for (int i = 0; i < 300 && !fs::exists(port_file_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
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
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove(port_file_, ec);
  }
  const std::string& base_url() const { return base_url_; }

 private:
  pid_t pid_ = -1;
  fs::path port_file_;
  std::string base_url_;
};

int RunCli(const std::string& args, std::string* output) {
  std::string cmd = std::string(SDOH_BRIDGE_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ServerRunTest, RunAgainstTheFhirServerGivesTheSameFlagsAsTheFolder) {
  Server server;
  std::string why;
  if (!server.Start(&why)) GTEST_SKIP() << why;
  fhir::client::ClientConfig cc;
  cc.base_url = server.base_url();
  auto client = fhir::client::BuildClient(cc);
  ASSERT_TRUE(client.ok()) << client.error().message;
  // Load the samples with their ids (PUT creates).
  size_t loaded = 0;
  for (const char* type : {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}) {
    for (const std::string& line : Lines(ReadFile(kSource + "/samples/" + type + ".ndjson"))) {
      rapidjson::Document d;
      d.Parse(line.c_str());
      ASSERT_FALSE(d.HasParseError());
      auto r = client->fhir->Update(type, d["id"].GetString(), line, "");
      ASSERT_TRUE(r.ok()) << type << "/" << d["id"].GetString() << ": " << r.error().message;
      ++loaded;
    }
  }
  ASSERT_GT(loaded, 300u);

  fs::path out = fs::temp_directory_path() / ("sdoh-server-out-" + std::to_string(getpid()));
  std::string output;
  int code = RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                        server.base_url() + " --out " + out.string(),
                    &output);
  ASSERT_EQ(code, 0) << output;
  std::vector<std::string> expected;
  for (const auto& l : Lines(ReadFile(kSource + "/samples/expected-flags.ndjson"))) {
    rapidjson::Document d;
    d.Parse(l.c_str());
    d.RemoveMember("why");
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    expected.push_back(sb.GetString());
  }
  EXPECT_EQ(Lines(ReadFile(out / "flags.ndjson")), expected);
  EXPECT_NE(output.find("folder"), 0u);
  fs::remove_all(out);
}

}  // namespace
