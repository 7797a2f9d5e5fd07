#include "plugin/service/service_app.h"

#include <chrono>

#include "plugin/service/cds_hooks.h"

namespace sdoh::service {

namespace {

HttpResponse Json(int status, std::string body) {
  return HttpResponse{status, "application/json", std::move(body), ""};
}

HttpResponse Error(int status, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return Json(status, "{\"error\":\"" + escaped + "\"}");
}

}  // namespace

ServiceApp::ServiceApp(std::shared_ptr<const Pipeline> pipeline, ServiceSettings settings)
    : pipeline_(std::move(pipeline)), settings_(std::move(settings)) {}

HttpResponse ServiceApp::Handle(const HttpRequest& request) {
  auto start = std::chrono::steady_clock::now();
  std::string route = "other";
  HttpResponse response = Route(request, &route);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  metrics_.CountRequest(route, response.status, took.count());
  return response;
}

std::optional<HttpResponse> ServiceApp::CheckJwt(const HttpRequest& request,
                                                 const std::string& path) {
  if (settings_.no_auth) return std::nullopt;
  const std::string prefix = "Bearer ";
  if (request.authorization.rfind(prefix, 0) != 0 || !settings_.verifier) {
    metrics_.CountJwtRejection("missing");
    HttpResponse r = Error(401, "a Bearer JWT signed by the EHR is required");
    r.www_authenticate = "Bearer";
    return r;
  }
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto rejection = settings_.verifier->Verify(request.authorization.substr(prefix.size()),
                                              settings_.public_base_url + path, now);
  if (!rejection) return std::nullopt;
  metrics_.CountJwtRejection(rejection->reason);
  HttpResponse r = Error(401, "JWT refused: " + rejection->message);
  r.www_authenticate = "Bearer error=\"invalid_token\"";
  return r;
}

HttpResponse ServiceApp::Route(const HttpRequest& request, std::string* route) {
  std::string path = request.target.substr(0, request.target.find('?'));
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (path == "/healthz") {
    *route = path;
    return get ? Json(200, R"({"status":"ok"})") : Error(405, "GET only");
  }
  if (path == "/readyz") {
    *route = path;
    if (!get) return Error(405, "GET only");
    return pipeline_ ? Json(200, R"({"status":"ready"})") : Error(503, "config not loaded");
  }
  if (path == "/metrics") {
    *route = path;
    if (!get) return Error(405, "GET only");
    bool allowed = settings_.metrics_token.empty()
                       ? request.from_loopback
                       : request.authorization == "Bearer " + settings_.metrics_token;
    if (!allowed) return Error(403, "metrics: loopback only, or the metrics bearer token");
    HttpResponse r{200, "text/plain; version=0.0.4", metrics_.Render(), ""};
    return r;
  }
  if (path == "/cds-services") {
    *route = path;
    if (!get) return Error(405, "GET only");
    if (auto denied = CheckJwt(request, path)) return *denied;
    return Json(200, DiscoveryJson(settings_.service_id));
  }
  const std::string service_path = "/cds-services/" + settings_.service_id;
  if (path == service_path) {
    *route = "/cds-services/{id}";
    if (!post) return Error(405, "POST only");
    if (auto denied = CheckJwt(request, path)) return *denied;
    CdsResult result;
    {
      std::lock_guard<std::mutex> lock(eval_mu_);
      result = EvaluatePatientView(*pipeline_, request.body, fhir::NowMicros());
    }
    for (const auto& need : result.needs) metrics_.CountCard(need);
    return Json(result.status, std::move(result.body));
  }
  if (path == service_path + "/feedback") {
    *route = "/cds-services/{id}/feedback";
    if (!post) return Error(405, "POST only");
    if (auto denied = CheckJwt(request, path)) return *denied;
    auto outcomes = FeedbackOutcomes(request.body);
    if (!outcomes.ok()) return Error(400, outcomes.status().message());
    for (const auto& o : *outcomes) metrics_.CountFeedback(o);
    return Json(200, "{}");
  }
  if (path.rfind("/cds-services/", 0) == 0) *route = "/cds-services/{unknown}";
  return Error(404, "no such route");
}

}  // namespace sdoh::service
