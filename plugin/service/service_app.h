// Routes of `serve` (requests in, responses out; no sockets): /healthz, /readyz, /metrics,
// GET /cds-services, POST /cds-services/<id>, POST /cds-services/<id>/feedback, POST /notify.
// Applies the EHR JWT check to the CDS routes, the shared secret to /notify, the metrics access
// rule, and counts everything. Thread-safe; evaluations run in parallel on the one const
// pipeline. A patient-view call whose prefetch is incomplete is fetched from
// its fhirServer on the app's fetch threads, so the HTTP threads never block on the network.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "plugin/service/cds_hooks.h"
#include "plugin/service/feedback.h"
#include "plugin/service/http_server.h"
#include "plugin/service/jwt_verifier.h"
#include "plugin/service/metrics.h"
#include "plugin/service/prefetch_fetcher.h"
#include "plugin/service/readiness.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/feedback_store.h"

namespace sdoh::service {

struct ServiceSettings {
  std::string service_id = "sdoh-bridge-patient-view";
  std::string public_base_url;  // e.g. https://sdoh.example.org; JWT aud = base + request path
  bool no_auth = false;         // local use only: CDS routes accept calls without a JWT
  std::shared_ptr<JwtVerifier> verifier;  // required unless no_auth
  std::string metrics_token;  // when non-empty, /metrics needs "Bearer <token>"; else loopback
  // Missing prefetch: read from the call's (allow-listed) fhirServer. Null: 412 instead.
  std::shared_ptr<PrefetchFetcher> fetcher;
  int fetch_threads = 4;
  // POST /notify: the header (lower-case name) that must carry `notify_secret`, and where
  // event notifications go. Without a secret or a sink /notify answers 503.
  std::string notify_header = "x-sdoh-notify-secret";
  std::string notify_secret;
  std::function<void(const std::vector<std::string>&)> on_notify;
  // GET /readyz beyond "config loaded": server, token, ledger (plugin/service/readiness.h).
  std::shared_ptr<ReadinessProbe> readiness;
  CardOptions cards;  // who sees which cards (service.hide_sensitive_from)
  // Feedback (feedback.h): entries per POST; card uuids remembered; outcomes kept.
  size_t feedback_max_outcomes = 100;
  size_t issued_cards_kept = 100000;
  size_t feedback_kept = 10000;
  // The ledger file's feedback table (issue 14 item 7): every outcome is recorded there, and
  // a card's need with an override in force (writeback.declined_days) suggests no referral.
  // Null: outcomes are kept in memory only, and overrides still act on this service's cards.
  std::shared_ptr<writeback::FeedbackStore> feedback_store;
  int declined_days = 90;
};

// Sets `settings` to record CDS feedback in the config's ledger file (created when missing)
// and to honour its overrides for writeback.declined_days (issue 14 item 7). False, with the
// error on `err`, when the file cannot be opened: `serve` does not start without it.
bool UseLedgerForFeedback(const Config& config, ServiceSettings* settings, std::ostream& err);

class ServiceApp {
 public:
  ServiceApp(std::shared_ptr<const Pipeline> pipeline, ServiceSettings settings);
  ~ServiceApp();  // waits for fetches in flight

  // Synchronous: a call that needs fetching blocks the caller until it is answered.
  HttpResponse Handle(const HttpRequest& request);
  // For HttpServer: answers at once, or later from a fetch thread.
  void HandleAsync(HttpRequest request, HttpResponder respond);
  Metrics& metrics() { return metrics_; }
  // The most recent feedback outcomes (ids only), oldest first.
  std::vector<FeedbackRecord> feedback() const { return feedback_.Snapshot(); }

 private:
  // Answers now, or returns nullopt after handing the request to a fetch thread.
  std::optional<HttpResponse> Route(HttpRequest& request, std::string* route,
                                    const std::function<void(HttpResponse)>& later);
  std::optional<HttpResponse> CheckJwt(const HttpRequest& request, const std::string& path);
  HttpResponse Notify(const HttpRequest& request);
  HttpResponse Cards(const CdsResult& result);
  HttpResponse Evaluate(const HookCall& call);
  // The declines in force for this call's patient: the ledger's, else this process's log.
  Declines DeclinesFor(const HookCall& call, fhir::InstantMicros now);
  HttpResponse Feedback(const HttpRequest& request);

  std::shared_ptr<const Pipeline> pipeline_;  // const, shared by every call (no per-call copy)
  ServiceSettings settings_;
  Metrics metrics_;
  IssuedCards issued_;
  FeedbackLog feedback_;
  std::unique_ptr<boost::asio::thread_pool> fetch_pool_;
};

}  // namespace sdoh::service
