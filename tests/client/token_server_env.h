// Starts the test token endpoint (tests/fhir-server/token-server.mjs) once per test binary,
// like FhirTestServer: PORT=0 with a PORT_FILE, CLIENTS_FILE in a temp dir the tests write,
// SIGTERM at the end. Unavailable (tests skip) only when node_modules is missing.
#pragma once

#include <string>

namespace fhir::client::testing {

class TokenTestServer {
 public:
  // The running server (started on first call); nullptr with `why` set when it cannot run.
  static TokenTestServer* Get(std::string* why);
  static void StopAll();

  const std::string& root_url() const { return root_url_; }  // http://127.0.0.1:N
  std::string token_url() const { return root_url_ + "/token"; }
  uint16_t port() const { return port_; }
  // Where the registered clients go: {"clients": {"<id>": {"keys": [{kid, alg, pem}]}}}.
  const std::string& clients_file() const { return clients_file_; }
  // POST /_admin/reset, then POST /_admin/config {"expires_in": N}. False on failure.
  bool Reset(int expires_in = 300);
  // GET /_admin/stats as JSON text ("" on failure).
  std::string Stats();

 private:
  int pid_ = -1;
  uint16_t port_ = 0;
  std::string root_url_;
  std::string dir_;
  std::string clients_file_;
};

}  // namespace fhir::client::testing

// In a test body: skips unless both servers run; defines `server` and `tokens`.
#define REQUIRE_TOKEN_SERVER()                                          \
  REQUIRE_FHIR_SERVER();                                                \
  std::string token_server_why;                                         \
  ::fhir::client::testing::TokenTestServer* tokens =                    \
      ::fhir::client::testing::TokenTestServer::Get(&token_server_why); \
  ASSERT_NE(tokens, nullptr) << token_server_why;                       \
  ASSERT_TRUE(tokens->Reset()) << "token server reset failed"
