// Starts the real FHIR test server (tests/fhir-server/server.mjs) once per test binary:
// PORT=0 with a PORT_FILE, waits for the file, SIGTERM at the end. Tests skip (with a clear
// message) only when node_modules is missing there (run `npm ci` in tests/fhir-server).
#pragma once

#include <string>

namespace fhir::client::testing {

class FhirTestServer {
 public:
  // The running server (started on first call); nullptr with `why` set when it cannot run.
  static FhirTestServer* Get(std::string* why);
  static void StopAll();

  const std::string& base_url() const { return base_url_; }  // http://127.0.0.1:N/fhir
  const std::string& root_url() const { return root_url_; }  // http://127.0.0.1:N
  // POST /_admin/reset; false on failure.
  bool Reset();

 private:
  int pid_ = -1;
  std::string base_url_;
  std::string root_url_;
};

}  // namespace fhir::client::testing

// In a test body: skips unless the server runs; defines `server`.
#define REQUIRE_FHIR_SERVER()                                         \
  std::string fhir_server_why;                                        \
  ::fhir::client::testing::FhirTestServer* server =                   \
      ::fhir::client::testing::FhirTestServer::Get(&fhir_server_why); \
  if (server == nullptr) GTEST_SKIP() << fhir_server_why;             \
  ASSERT_TRUE(server->Reset()) << "POST /_admin/reset failed"
