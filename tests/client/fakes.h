// Test doubles for fhir/client: a clock that only moves when the sleeper sleeps, a sleeper
// that records the delays requested, fixed randomness, and a scripted transport.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "fhir/client/http_transport.h"
#include "fhir/client/retry_policy.h"

namespace fhir::client::testing {

class FakeClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() override {
    std::lock_guard<std::mutex> l(mu_);
    return std::chrono::steady_clock::time_point() + elapsed_;
  }
  std::chrono::system_clock::time_point WallNow() override {
    std::lock_guard<std::mutex> l(mu_);
    return wall_start_ + elapsed_;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    elapsed_ += d;
  }
  // 2024-01-01T00:00:00Z
  std::chrono::system_clock::time_point wall_start_{std::chrono::seconds(1704067200)};

 private:
  std::mutex mu_;
  std::chrono::milliseconds elapsed_{1'000'000};
};

class FakeSleeper : public Sleeper {
 public:
  explicit FakeSleeper(FakeClock* clock) : clock_(clock) {}
  void Sleep(std::chrono::milliseconds d) override {
    delays.push_back(d);
    clock_->Advance(d);
  }
  std::vector<std::chrono::milliseconds> delays;

 private:
  FakeClock* clock_;
};

class FixedRandom : public Random {
 public:
  explicit FixedRandom(double v) : v_(v) {}
  double Uniform01() override { return v_; }

 private:
  double v_;
};

// Answers requests from a script (in order); records every request. A handler, when set,
// answers instead of the script.
class ScriptedTransport : public HttpTransport {
 public:
  ClientResult<HttpResponse> Send(const HttpRequest& request,
                                  std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> l(mu_);
    requests.push_back(request);
    timeouts.push_back(timeout);
    if (handler) return handler(request);
    if (script.empty()) {
      return ClientError::Make(ClientError::Kind::kInvalidArgument, "script exhausted");
    }
    ClientResult<HttpResponse> r = script.front();
    script.pop_front();
    return r;
  }
  static HttpResponse Status(int status, std::string body = "", Headers headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
  }
  static ClientError Error(ClientError::Kind kind) { return ClientError::Make(kind, "scripted"); }

  std::deque<ClientResult<HttpResponse>> script;
  std::function<ClientResult<HttpResponse>(const HttpRequest&)> handler;
  std::vector<HttpRequest> requests;
  std::vector<std::chrono::milliseconds> timeouts;

 private:
  std::mutex mu_;
};

struct RetryRig {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<FakeSleeper> sleeper = std::make_shared<FakeSleeper>(clock.get());
  std::shared_ptr<ScriptedTransport> transport = std::make_shared<ScriptedTransport>();
  std::shared_ptr<RetryingTransport> retrying;

  explicit RetryRig(RetryOptions options = Defaults(), double random = 0.5) {
    retrying = std::make_shared<RetryingTransport>(transport, options, clock, sleeper,
                                                   std::make_shared<FixedRandom>(random));
  }
  static RetryOptions Defaults() {
    RetryOptions o;
    o.max_attempts = 4;
    o.base_delay = std::chrono::milliseconds(100);
    o.max_delay = std::chrono::milliseconds(1000);
    o.budget = std::chrono::milliseconds(60'000);
    o.deadline = std::chrono::milliseconds(300'000);
    return o;
  }
};

}  // namespace fhir::client::testing
