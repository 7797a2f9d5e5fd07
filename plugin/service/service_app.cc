#include "plugin/service/service_app.h"

#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <ostream>

#include "plugin/service/cds_hooks.h"
#include "plugin/service/notification.h"
#include "plugin/writeback/server_writeback.h"

namespace sdoh::service {

namespace {

HttpResponse Json(int status, std::string body) {
  return HttpResponse{status, "application/json", std::move(body), ""};
}

HttpResponse Error(int status, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') {
      escaped += '\\';
      escaped += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      escaped += ' ';
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      // Messages may echo request bytes (a JWT's kid or alg): keep the body valid UTF-8 JSON
      // (found by fuzz_http_request).
      escaped += '?';
    } else {
      escaped += c;
    }
  }
  return Json(status, "{\"error\":\"" + escaped + "\"}");
}

}  // namespace

bool UseLedgerForFeedback(const Config& config, ServiceSettings* settings, std::ostream& err) {
  auto store = writeback::OpenForService(writeback::LedgerPath(config));
  if (!store.ok()) {
    err << "sdoh-bridge: cannot record CDS feedback: " << store.status().message() << "\n";
    return false;
  }
  settings->feedback_store = std::move(*store);
  settings->declined_days = config.writeback.declined_days;
  return true;
}

ServiceApp::ServiceApp(std::shared_ptr<const Pipeline> pipeline, ServiceSettings settings)
    : pipeline_(std::move(pipeline)),
      settings_(std::move(settings)),
      issued_(settings_.issued_cards_kept),
      feedback_(settings_.feedback_kept) {
  if (settings_.fetcher) {
    fetch_pool_ = std::make_unique<boost::asio::thread_pool>(
        static_cast<size_t>(settings_.fetch_threads > 0 ? settings_.fetch_threads : 1));
  }
}

ServiceApp::~ServiceApp() {
  if (fetch_pool_) fetch_pool_->join();
}

HttpResponse ServiceApp::Handle(const HttpRequest& request) {
  std::promise<HttpResponse> done;
  auto answer = done.get_future();
  HandleAsync(request, [&done](HttpResponse r) { done.set_value(std::move(r)); });
  return answer.get();
}

void ServiceApp::HandleAsync(HttpRequest request, HttpResponder respond) {
  auto start = std::chrono::steady_clock::now();
  auto route = std::make_shared<std::string>("other");
  auto finish = [this, start, route, respond](HttpResponse response) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    metrics_.CountRequest(*route, response.status, took.count());
    respond(std::move(response));
  };
  std::optional<HttpResponse> now = Route(request, route.get(), finish);
  if (now) finish(std::move(*now));
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

HttpResponse ServiceApp::Cards(const CdsResult& result) {
  for (const auto& need : result.needs) metrics_.CountCard(need);
  for (const auto& [uuid, card] : result.issued) issued_.Add(uuid, card);
  return Json(result.status, result.body);
}

HttpResponse ServiceApp::Evaluate(const HookCall& call) {
  if (!pipeline_) return Error(503, "config not loaded");
  const fhir::InstantMicros now = fhir::NowMicros();
  const Declines declines = DeclinesFor(call, now);
  return Cards(EvaluatePatientView(*pipeline_, call, now, settings_.cards, &declines));
}

Declines ServiceApp::DeclinesFor(const HookCall& call, fhir::InstantMicros now) {
  if (settings_.feedback_store) {
    auto loaded = settings_.feedback_store->LoadDeclines(call.fhir_server, settings_.declined_days,
                                                         now, call.patient_id);
    if (loaded.ok()) return std::move(*loaded);
    // The ledger cannot be read: fall back to what this process recorded (never less safe).
    metrics_.CountFeedback("ledger-read-error");
  }
  Declines out;
  if (settings_.declined_days <= 0) return out;
  const int64_t days = static_cast<int64_t>(settings_.declined_days) * 86400LL * 1000000LL;
  for (const FeedbackRecord& r : feedback_.Snapshot()) {
    if (r.outcome != "overridden" || r.reason.empty() || r.patient_id != call.patient_id) continue;
    if (!r.fhir_server.empty() && !call.fhir_server.empty() &&
        writeback::FeedbackServer(r.fhir_server) != writeback::FeedbackServer(call.fhir_server)) {
      continue;
    }
    auto at = fhir::ParseFhirDateTime(r.outcome_timestamp, fhir::TimeZone::Utc());
    if (at && now < *at + days) out.Add(r.patient_id, r.need, {r.reason, *at, *at + days});
  }
  return out;
}

// Issue 13 #13 / issue 14 item 7: bounded, validated, and only for cards this service issued
// (a request naming any other uuid is refused whole, nothing counted).
HttpResponse ServiceApp::Feedback(const HttpRequest& request) {
  auto entries = ParseFeedback(request.body, settings_.feedback_max_outcomes);
  if (!entries.ok()) return Error(400, entries.status().message());
  std::vector<IssuedCard> cards;
  const fhir::InstantMicros now = fhir::NowMicros();
  for (size_t i = 0; i < entries->size(); ++i) {
    const FeedbackEntry& e = (*entries)[i];
    // An override lasts writeback.declined_days from its timestamp: one from the future would
    // outlast it (an hour of clock skew is allowed).
    auto at = fhir::ParseFhirDateTime(e.outcome_timestamp, fhir::TimeZone::Utc());
    if (!at || *at > now + 3600LL * 1000000LL) {
      return Error(400, "feedback[" + std::to_string(i) +
                            "].outcomeTimestamp: in the future (more than an hour ahead)");
    }
    auto card = issued_.Find(e.card);
    if (!card) {
      metrics_.CountFeedback("unknown-card");
      return Error(404, "feedback[" + std::to_string(i) +
                            "].card: not a card this service issued (or no longer remembered)");
    }
    for (const auto& s : e.accepted_suggestions) {
      bool known = false;
      for (const auto& k : card->suggestion_uuids) known |= k == s;
      if (!known) {
        return Error(400, "feedback[" + std::to_string(i) +
                              "].acceptedSuggestions: not a suggestion of that card");
      }
    }
    cards.push_back(std::move(*card));
  }
  // Recorded in the ledger first: an outcome that cannot be stored is refused whole (503), so
  // the EHR can send it again, rather than acknowledged and lost.
  if (settings_.feedback_store) {
    for (size_t i = 0; i < entries->size(); ++i) {
      const FeedbackEntry& e = (*entries)[i];
      fhir::Status s = settings_.feedback_store->Record(
          {cards[i].fhir_server, e.card, cards[i].patient_id, cards[i].need, e.outcome,
           e.override_reason, e.outcome_timestamp, e.accepted_suggestions});
      if (!s.ok()) {
        metrics_.CountFeedback("ledger-write-error");
        return Error(503, "feedback could not be recorded; send it again later");
      }
    }
  }
  for (size_t i = 0; i < entries->size(); ++i) {
    const FeedbackEntry& e = (*entries)[i];
    metrics_.CountFeedback(e.outcome);
    feedback_.Record({e.card, cards[i].patient_id, cards[i].need, e.outcome, e.override_reason,
                      e.outcome_timestamp, cards[i].fhir_server});
  }
  return Json(200, "{}");
}

HttpResponse ServiceApp::Notify(const HttpRequest& request) {
  if (settings_.notify_secret.empty() || !settings_.on_notify) {
    return Error(503, "notifications are not configured (watch.interval and the notify secret)");
  }
  if (!SecretMatches(HeaderValue(request, settings_.notify_header), settings_.notify_secret)) {
    metrics_.CountNotification("refused");
    return Error(401, "notification refused: the shared secret header is missing or wrong");
  }
  auto n = ParseNotification(request.body);
  if (!n.ok()) {
    metrics_.CountNotification("malformed");
    return Error(400, n.status().message());
  }
  metrics_.CountNotification(n->type);
  if (n->IsEvent() && !n->events.empty()) {
    std::vector<std::string> refs;
    for (const auto& e : n->events) refs.push_back(e.patient.empty() ? e.focus : e.patient);
    settings_.on_notify(refs);
  }
  return Json(200, "{}");
}

std::optional<HttpResponse> ServiceApp::Route(HttpRequest& request, std::string* route,
                                              const std::function<void(HttpResponse)>& later) {
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
    if (!pipeline_) return Error(503, "config not loaded");
    if (!settings_.readiness) return Json(200, R"({"status":"ready"})");
    // A probe may take a round trip to the FHIR server (cached for a few seconds).
    ReadinessReport report = settings_.readiness->Check();
    std::string body =
        std::string(R"({"status":")") + (report.ready ? "ready" : "not ready") + R"(","checks":{)";
    bool first = true;
    for (const auto& [name, state] : report.checks) {
      body += (first ? "\"" : ",\"") + name + "\":\"" + state + "\"";  // fixed tokens only
      first = false;
    }
    return Json(report.ready ? 200 : 503, body + "}}");
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
  if (path == "/notify") {
    *route = path;
    if (!post) return Error(405, "POST only");
    return Notify(request);
  }
  if (path == "/cds-services") {
    *route = path;
    if (!get) return Error(405, "GET only");
    if (auto denied = CheckJwt(request, path)) return *denied;
    if (!pipeline_) return Error(503, "config not loaded");
    return Json(200, DiscoveryJson(settings_.service_id, *pipeline_->catalog));
  }
  const std::string service_path = "/cds-services/" + settings_.service_id;
  if (path == service_path) {
    *route = "/cds-services/{id}";
    if (!post) return Error(405, "POST only");
    if (auto denied = CheckJwt(request, path)) return *denied;
    auto call = std::make_shared<HookCall>();
    CdsResult error;
    if (!ParsePatientView(request.body, call.get(), &error)) return Json(error.status, error.body);
    if (call->Missing().empty() || call->fhir_server.empty() || !settings_.fetcher) {
      return Evaluate(*call);
    }
    if (!settings_.fetcher->Allowed(call->fhir_server)) {
      metrics_.CountPrefetchFetch("refused");
      return Error(412, "prefetch incomplete and fhirServer is not in the service's allow-list");
    }
    boost::asio::post(*fetch_pool_, [this, call, later] {
      fhir::Status fetched = settings_.fetcher->Fetch(call.get());
      metrics_.CountPrefetchFetch(fetched.ok() ? "ok" : "failed");
      if (!fetched.ok()) {
        later(Error(
            412, "prefetch incomplete and fetching from fhirServer failed: " + fetched.message()));
        return;
      }
      later(Evaluate(*call));
    });
    return std::nullopt;
  }
  if (path == service_path + "/feedback") {
    *route = "/cds-services/{id}/feedback";
    if (!post) return Error(405, "POST only");
    if (auto denied = CheckJwt(request, path)) return *denied;
    return Feedback(request);
  }
  if (path.rfind("/cds-services/", 0) == 0) *route = "/cds-services/{unknown}";
  return Error(404, "no such route");
}

}  // namespace sdoh::service
