#include "tests/client/token_server_env.h"

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

std::unique_ptr<TokenTestServer> g_server;
bool g_tried = false;
std::string g_why;

ClientResult<HttpResponse> Call(const std::string& method, const std::string& url,
                                const std::string& body) {
  CurlTransport transport(CurlTransportOptions{});
  HttpRequest req;
  req.method = method;
  req.url = url;
  req.body = body;
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  return transport.Send(req, std::chrono::milliseconds(10'000));
}

class StopTokenServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { TokenTestServer::StopAll(); }
};

[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new StopTokenServerEnvironment);

}  // namespace

TokenTestServer* TokenTestServer::Get(std::string* why) {
  if (g_tried) {
    *why = g_why;
    return g_server.get();
  }
  g_tried = true;
  namespace fs = std::filesystem;
  const fs::path dir = SDOH_FHIR_SERVER_DIR;
  if (!fs::exists(dir / "node_modules" / "jose")) {
    g_why = "npm package jose missing in " + dir.string() + "/node_modules: run `npm ci` there";
    *why = g_why;
    return nullptr;
  }
  char tmpl[] = "/tmp/sdoh-token-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    g_why = "mkdtemp failed";
    *why = g_why;
    return nullptr;
  }
  auto server = std::make_unique<TokenTestServer>();
  server->dir_ = tmpl;
  server->clients_file_ = server->dir_ + "/clients.json";
  std::ofstream(server->clients_file_) << "{\"clients\":{}}\n";
  const std::string port_file = server->dir_ + "/port";
  pid_t pid = fork();
  if (pid == 0) {
    setenv("PORT", "0", 1);
    setenv("PORT_FILE", port_file.c_str(), 1);
    setenv("CLIENTS_FILE", server->clients_file_.c_str(), 1);
    if (chdir(dir.c_str()) != 0) _exit(127);
    execlp("node", "node", "token-server.mjs", static_cast<char*>(nullptr));
    _exit(127);
  }
  server->pid_ = pid;
  // Startup takes ~0.1 s; 30 s is a bound for a loaded machine, not an expectation.
  for (int i = 0; i < 600 && !fs::exists(port_file); ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      g_why = "token server exited during startup (status " + std::to_string(status) + ")";
      *why = g_why;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int port = 0;
  std::ifstream(port_file) >> port;
  if (port <= 0 || port > 65535) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    g_why = "token server did not write its port file " + port_file;
    *why = g_why;
    return nullptr;
  }
  server->port_ = static_cast<uint16_t>(port);
  server->root_url_ = "http://127.0.0.1:" + std::to_string(port);
  g_server = std::move(server);
  return g_server.get();
}

void TokenTestServer::StopAll() {
  if (g_server && g_server->pid_ > 0) {
    kill(g_server->pid_, SIGTERM);
    waitpid(g_server->pid_, nullptr, 0);
    std::filesystem::remove_all(g_server->dir_);
  }
  g_server.reset();
}

bool TokenTestServer::Reset(int expires_in) {
  ClientResult<HttpResponse> r = Call("POST", root_url_ + "/_admin/reset", "");
  if (!r.ok() || r->status != 200) return false;
  r = Call("POST", root_url_ + "/_admin/config",
           "{\"expires_in\":" + std::to_string(expires_in) + "}");
  return r.ok() && r->status == 200;
}

std::string TokenTestServer::Stats() {
  ClientResult<HttpResponse> r = Call("GET", root_url_ + "/_admin/stats", "");
  return r.ok() && r->status == 200 ? r->body : "";
}

}  // namespace fhir::client::testing
