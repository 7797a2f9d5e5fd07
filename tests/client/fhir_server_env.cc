#include "tests/client/fhir_server_env.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "fhir/client/http_transport.h"

namespace fhir::client::testing {
namespace {

std::unique_ptr<FhirTestServer> g_server;
bool g_tried = false;
std::string g_why;

}  // namespace

FhirTestServer* FhirTestServer::Get(std::string* why) {
  if (g_tried) {
    *why = g_why;
    return g_server.get();
  }
  g_tried = true;
  namespace fs = std::filesystem;
  const fs::path dir = SDOH_FHIR_SERVER_DIR;
  if (!fs::exists(dir / "node_modules")) {
    g_why = "FHIR test server not installed: run `npm ci` in " + dir.string();
    *why = g_why;
    return nullptr;
  }
  char tmpl[] = "/tmp/sdoh-client-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    g_why = "mkdtemp failed";
    *why = g_why;
    return nullptr;
  }
  const std::string port_file = std::string(tmpl) + "/port";
  pid_t pid = fork();
  if (pid == 0) {
    setenv("PORT", "0", 1);
    setenv("PORT_FILE", port_file.c_str(), 1);
    if (chdir(dir.c_str()) != 0) _exit(127);
    execlp("node", "node", "server.mjs", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto server = std::make_unique<FhirTestServer>();
  server->pid_ = pid;
  // Startup takes ~1 s; allow a slow shared machine 60 s (a bound, not an assertion).
  for (int i = 0; i < 1200 && !fs::exists(port_file); ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      g_why = "FHIR test server exited during startup (status " + std::to_string(status) + ")";
      *why = g_why;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ifstream in(port_file);
  int port = 0;
  in >> port;
  if (port <= 0) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    g_why = "FHIR test server did not write its port file " + port_file;
    *why = g_why;
    return nullptr;
  }
  std::filesystem::remove_all(tmpl);
  server->root_url_ = "http://127.0.0.1:" + std::to_string(port);
  server->base_url_ = server->root_url_ + "/fhir";
  g_server = std::move(server);
  return g_server.get();
}

void FhirTestServer::StopAll() {
  if (g_server && g_server->pid_ > 0) {
    kill(g_server->pid_, SIGTERM);
    waitpid(g_server->pid_, nullptr, 0);
  }
  g_server.reset();
}

bool FhirTestServer::Reset() {
  CurlTransport transport(CurlTransportOptions{});
  HttpRequest req;
  req.method = "POST";
  req.url = root_url_ + "/_admin/reset";
  ClientResult<HttpResponse> r = transport.Send(req, std::chrono::milliseconds(30'000));
  return r.ok() && r->status == 200;
}

}  // namespace fhir::client::testing

namespace {
class StopServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { fhir::client::testing::FhirTestServer::StopAll(); }
};
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new StopServerEnvironment);
  return RUN_ALL_TESTS();
}
