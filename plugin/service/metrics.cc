#include "plugin/service/metrics.h"

#include <sstream>

namespace sdoh::service {

void Metrics::CountRequest(const std::string& path, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{path, status}];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++latency_buckets_[i];
  }
  ++latency_count_;
  latency_sum_ += seconds;
}

void Metrics::CountCard(const std::string& need) {
  std::lock_guard<std::mutex> lock(mu_);
  ++cards_[need];
}

void Metrics::CountFeedback(const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  ++feedback_[outcome];
}

void Metrics::CountJwtRejection(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++jwt_rejections_[reason];
}

void Metrics::CountPrefetchFetch(const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  ++prefetch_fetches_[outcome];
}

void Metrics::CountNotification(const std::string& type) {
  static const char* kKnown[] = {"handshake",   "heartbeat", "event-notification", "query-status",
                                 "query-event", "refused",   "malformed"};
  std::string label = "other";
  for (const char* k : kKnown) {
    if (type == k) label = k;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++notifications_[label];
}

void Metrics::CountPass(const std::string& result) {
  std::lock_guard<std::mutex> lock(mu_);
  ++passes_[result];
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  out << "# HELP sdoh_http_requests_total HTTP requests by route and status.\n"
      << "# TYPE sdoh_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out << "sdoh_http_requests_total{path=\"" << key.first << "\",status=\"" << key.second << "\"} "
        << n << "\n";
  }
  out << "# HELP sdoh_cds_cards_total CDS Hooks cards returned by need.\n"
      << "# TYPE sdoh_cds_cards_total counter\n";
  for (const auto& [need, n] : cards_) {
    out << "sdoh_cds_cards_total{need=\"" << need << "\"} " << n << "\n";
  }
  out << "# HELP sdoh_cds_feedback_total CDS Hooks card feedback by outcome.\n"
      << "# TYPE sdoh_cds_feedback_total counter\n";
  for (const auto& [outcome, n] : feedback_) {
    out << "sdoh_cds_feedback_total{outcome=\"" << outcome << "\"} " << n << "\n";
  }
  out << "# HELP sdoh_jwt_rejections_total CDS Hooks JWTs refused, by reason.\n"
      << "# TYPE sdoh_jwt_rejections_total counter\n";
  for (const auto& [reason, n] : jwt_rejections_) {
    out << "sdoh_jwt_rejections_total{reason=\"" << reason << "\"} " << n << "\n";
  }
  auto counter = [&out](const char* name, const char* help, const char* label,
                        const std::map<std::string, uint64_t>& values) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
    for (const auto& [k, n] : values) {
      out << name << "{" << label << "=\"" << k << "\"} " << n << "\n";
    }
  };
  counter("sdoh_cds_prefetch_fetches_total",
          "Incomplete prefetch read from fhirServer, by outcome.", "outcome", prefetch_fetches_);
  counter("sdoh_notifications_total", "Subscription notifications received, by type.", "type",
          notifications_);
  counter("sdoh_watch_passes_total", "Watch loop passes, by result.", "result", passes_);
  out << "# HELP sdoh_http_request_duration_seconds Time to handle a request.\n"
      << "# TYPE sdoh_http_request_duration_seconds histogram\n";
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    out << "sdoh_http_request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} "
        << latency_buckets_[i] << "\n";
  }
  out << "sdoh_http_request_duration_seconds_bucket{le=\"+Inf\"} " << latency_count_ << "\n"
      << "sdoh_http_request_duration_seconds_sum " << latency_sum_ << "\n"
      << "sdoh_http_request_duration_seconds_count " << latency_count_ << "\n";
  return out.str();
}

}  // namespace sdoh::service
