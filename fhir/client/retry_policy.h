// When and how long to wait before sending a request again (issue 4): exponential backoff
// with full jitter on 429, 502, 503, 504 and connection errors / timeouts, 500 for reads only;
// Retry-After honoured; bounded by max attempts, a per-call deadline and a per-call budget of
// waiting time. Clock, sleeper and randomness are injected so tests check requested delays.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>

#include "fhir/client/http_transport.h"

namespace fhir::client {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() = 0;      // for deadlines
  virtual std::chrono::system_clock::time_point WallNow() = 0;  // for HTTP-date Retry-After
};

class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void Sleep(std::chrono::milliseconds d) = 0;
};

class Random {
 public:
  virtual ~Random() = default;
  virtual double Uniform01() = 0;  // in [0, 1)
};

class SystemClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() override {
    return std::chrono::system_clock::now();
  }
};

class ThreadSleeper : public Sleeper {
 public:
  void Sleep(std::chrono::milliseconds d) override;
};

// mt19937_64; thread-safe.
class SeededRandom : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}
  double Uniform01() override;

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;
};

// What a request does to the server; decides which failures may be retried.
enum class RequestKind {
  kRead,               // GET, HEAD, POST _search: always safe to repeat
  kIdempotentWrite,    // PUT (If-Match makes a repeat after success fail with 412, not duplicate)
  kConditionalCreate,  // POST with If-None-Exist: a repeat finds the first one
  kTransaction,        // POST of a transaction/batch Bundle (entries are conditional)
  kUnsafeCreate,       // plain POST create: repeated only when it surely was not processed
};

struct RetryOptions {
  int max_attempts = 4;  // including the first
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{30'000};  // cap of one computed backoff
  std::chrono::milliseconds budget{60'000};     // total waiting per call
  std::chrono::milliseconds deadline{300'000};  // whole call: attempts + waits
};

// Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date. An HTTP-date is measured
// against `server_date` (the response's Date header, so clock skew does not matter) when it
// parses, else against `now`. Past dates give 0. nullopt when the value is unusable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::string_view server_date,
                                                         std::chrono::system_clock::time_point now);
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 and asctime forms.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view value);

// Whether a failed attempt may be repeated for a request of `kind`.
// `status` is the HTTP status (0 when `error` is set instead).
bool IsRetryable(RequestKind kind, int status, const ClientError* error);

struct RetryStats {
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> throttled{0};  // 429 responses
};

// Sends through `transport`, repeating per the policy. Returns the final response (which may
// be a non-2xx status when retries ran out or it was not retryable) or the final transport
// error; attempts are recorded in the response / error. Thread-safe.
class RetryingTransport {
 public:
  RetryingTransport(std::shared_ptr<HttpTransport> transport, RetryOptions options,
                    std::shared_ptr<Clock> clock, std::shared_ptr<Sleeper> sleeper,
                    std::shared_ptr<Random> random);

  // `prepare`, when set, is called before every attempt after the first (e.g. to sign a fresh
  // one-time client assertion).
  ClientResult<HttpResponse> Execute(HttpRequest request, RequestKind kind,
                                     const std::function<void(HttpRequest&)>& prepare = nullptr);

  // Full-jitter backoff for the attempt that just failed (1-based): uniform in
  // [0, min(max_delay, base_delay * 2^(failed_attempt-1))].
  std::chrono::milliseconds Backoff(int failed_attempt);
  const RetryStats& stats() const { return stats_; }
  const RetryOptions& options() const { return options_; }
  Clock& clock() { return *clock_; }

 private:
  std::shared_ptr<HttpTransport> transport_;
  RetryOptions options_;
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<Sleeper> sleeper_;
  std::shared_ptr<Random> random_;
  RetryStats stats_;
};

}  // namespace fhir::client
