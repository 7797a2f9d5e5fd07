#include "plugin/service/readiness.h"

#include <unistd.h>

#include <filesystem>

namespace sdoh::service {

ReadinessProbe::ReadinessProbe(std::shared_ptr<fhir::client::Client> client, bool token_expected,
                               std::string ledger_path, std::chrono::seconds ttl)
    : client_(std::move(client)),
      token_expected_(token_expected),
      ledger_path_(std::move(ledger_path)),
      ttl_(ttl) {}

ReadinessReport ReadinessProbe::Check() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!have_ || now - last_ >= ttl_) {
    cached_ = Probe();
    last_ = std::chrono::steady_clock::now();
    have_ = true;
  }
  return cached_;
}

ReadinessReport ReadinessProbe::Probe() {
  ReadinessReport r;
  auto fail = [&r](const std::string& name, const std::string& why) {
    r.ready = false;
    r.checks[name] = why;
  };
  if (client_ && client_->fhir) {
    if (token_expected_) {
      auto token = client_->auth->Authorization();
      if (token.ok()) {
        r.checks["token"] = "ok";
      } else {
        fail("token", std::string("not obtainable: ") +
                          std::string(fhir::client::KindName(token.error().kind)) + " HTTP " +
                          std::to_string(token.error().http_status));
      }
    }
    auto cs = client_->fhir->Capabilities();
    if (cs.ok()) {
      r.checks["fhir_server"] = "ok";
    } else {
      fail("fhir_server", std::string("unreachable: ") +
                              std::string(fhir::client::KindName(cs.error().kind)) + " HTTP " +
                              std::to_string(cs.error().http_status));
    }
  }
  if (!ledger_path_.empty()) {
    namespace fs = std::filesystem;
    fs::path ledger(ledger_path_);
    fs::path dir = ledger.has_parent_path() ? ledger.parent_path() : fs::path(".");
    std::error_code ec;
    if (::access(dir.c_str(), W_OK) != 0) {
      fail("ledger", "its folder is not writable");
    } else if (fs::exists(ledger, ec) && ::access(ledger.c_str(), W_OK) != 0) {
      fail("ledger", "the ledger file is not writable");
    } else {
      r.checks["ledger"] = "ok";
    }
  }
  return r;
}

}  // namespace sdoh::service
