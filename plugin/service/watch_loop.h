// The watch loop of `serve` and `watch` (issue 6): one thread that runs passes — at start,
// every `interval`, and promptly after subscription notifications — one at a time, never
// overlapping. Notifications arriving during a pass are coalesced into the next one. A failed
// pass (exit code 1) is retried after an exponential backoff (base·2^(n−1), capped) instead of
// the interval, and notifications do not shorten the backoff. Stop() lets the running pass
// finish (its ledger writes complete), then the thread ends. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sdoh::service {

struct WatchSettings {
  std::chrono::seconds interval{0};  // 0: no periodic passes (and no watch loop)
  std::chrono::seconds backoff{5};   // first retry delay after a failed pass
  std::chrono::seconds max_backoff{600};
};

// What a pass is told: why it runs and the patients notifications named since the last pass
// ("Patient/<id>", or the focus reference when the notification did not say whose it is).
struct PassRequest {
  uint64_t number = 0;
  std::string reason;  // start | interval | notification | retry
  std::set<std::string> notified;
};

// Runs one pass; returns its exit code (RunJob's: 0, 3 done; 4 ledger busy; 1 failed).
using PassFn = std::function<int(const PassRequest&)>;

class WatchLoop {
 public:
  WatchLoop(WatchSettings settings, PassFn pass);
  ~WatchLoop();  // Stop() and Wait()

  void Start();
  // Queues the notified references and wakes the loop (duplicates coalesce). Never blocks on
  // a pass.
  void Notify(const std::vector<std::string>& references);
  void Stop();
  void Wait();

  uint64_t passes() const;
  uint64_t failures() const;  // consecutive failed passes now
  std::chrono::seconds BackoffAfter(uint64_t consecutive_failures) const;

 private:
  void Run();

  WatchSettings settings_;
  PassFn pass_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<std::string> pending_;
  bool notified_ = false;
  uint64_t passes_ = 0;
  uint64_t failures_ = 0;
  std::thread thread_;
};

}  // namespace sdoh::service
