// GET /readyz: can this process do its work right now? The FHIR server answers its
// CapabilityStatement, a token can be obtained (when auth is configured), and the ledger's
// folder and file are writable (when this process owns a ledger). Each check says "ok" or a
// short reason without data or secrets. The result is kept for `ttl` so probes from a load
// balancer do not turn into a request storm on the FHIR server; one probe runs at a time.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "fhir/client/client_factory.h"

namespace sdoh::service {

struct ReadinessReport {
  bool ready = true;
  std::map<std::string, std::string> checks;  // name -> "ok" or the reason it failed
};

class ReadinessProbe {
 public:
  // `client`: null when the source is not a FHIR server (no server checks). `ledger_path`:
  // empty when no ledger is owned.
  ReadinessProbe(std::shared_ptr<fhir::client::Client> client, bool token_expected,
                 std::string ledger_path, std::chrono::seconds ttl = std::chrono::seconds(5));
  ReadinessReport Check();  // thread-safe

 private:
  ReadinessReport Probe();

  std::shared_ptr<fhir::client::Client> client_;
  bool token_expected_;
  std::string ledger_path_;
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};
  bool have_ = false;
  ReadinessReport cached_;
};

}  // namespace sdoh::service
