// Routes of `serve` (requests in, responses out; no sockets): /healthz, /readyz, /metrics,
// GET /cds-services, POST /cds-services/<id>, POST /cds-services/<id>/feedback. Applies the
// EHR JWT check to the CDS routes, the metrics access rule, and counts everything. Thread-safe:
// evaluations are serialised because the catalog's code table is shared mutable state.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plugin/pipeline.h"
#include "plugin/service/http_server.h"
#include "plugin/service/jwt_verifier.h"
#include "plugin/service/metrics.h"

namespace sdoh::service {

struct ServiceSettings {
  std::string service_id = "sdoh-bridge-patient-view";
  std::string public_base_url;  // e.g. https://sdoh.example.org; JWT aud = base + request path
  bool no_auth = false;         // local use only: CDS routes accept calls without a JWT
  std::shared_ptr<JwtVerifier> verifier;  // required unless no_auth
  std::string metrics_token;  // when non-empty, /metrics needs "Bearer <token>"; else loopback
};

class ServiceApp {
 public:
  ServiceApp(std::shared_ptr<const Pipeline> pipeline, ServiceSettings settings);

  HttpResponse Handle(const HttpRequest& request);
  Metrics& metrics() { return metrics_; }

 private:
  HttpResponse Route(const HttpRequest& request, std::string* route);
  std::optional<HttpResponse> CheckJwt(const HttpRequest& request, const std::string& path);

  std::shared_ptr<const Pipeline> pipeline_;
  ServiceSettings settings_;
  Metrics metrics_;
  std::mutex eval_mu_;
};

}  // namespace sdoh::service
