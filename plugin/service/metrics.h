// Service counters in Prometheus text exposition format 0.0.4: requests by path and status, CDS
// cards by need, feedback outcomes, JWT rejections by reason, prefetch fetches by outcome,
// notifications by type, watch passes by result, and a request latency histogram.
// Label values are bounded by the caller (paths are route templates, not raw URLs). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace sdoh::service {

class Metrics {
 public:
  void CountRequest(const std::string& path, int status, double seconds);
  void CountCard(const std::string& need);
  void CountFeedback(const std::string& outcome);
  void CountJwtRejection(const std::string& reason);
  void CountPrefetchFetch(const std::string& outcome);  // ok | failed | refused
  // handshake | heartbeat | event-notification | query-status | query-event; anything else
  // (an unbounded value from the body) is counted as "other"; refused | malformed.
  void CountNotification(const std::string& type);
  void CountPass(const std::string& result);  // ok | failed | busy

  std::string Render() const;

 private:
  static constexpr std::array<double, 10> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,  0.1,    0.25,  0.5,  1.0};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> cards_;
  std::map<std::string, uint64_t> feedback_;
  std::map<std::string, uint64_t> jwt_rejections_;
  std::map<std::string, uint64_t> prefetch_fetches_;
  std::map<std::string, uint64_t> notifications_;
  std::map<std::string, uint64_t> passes_;
  std::array<uint64_t, kBuckets.size()> latency_buckets_{};
  uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
};

}  // namespace sdoh::service
