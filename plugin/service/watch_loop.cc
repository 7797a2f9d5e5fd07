#include "plugin/service/watch_loop.h"

#include <algorithm>

namespace sdoh::service {

WatchLoop::WatchLoop(WatchSettings settings, PassFn pass)
    : settings_(settings), pass_(std::move(pass)) {}

WatchLoop::~WatchLoop() {
  Stop();
  Wait();
}

void WatchLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void WatchLoop::Notify(const std::vector<std::string>& references) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(references.begin(), references.end());
    notified_ = true;
  }
  cv_.notify_all();
}

void WatchLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

void WatchLoop::Wait() {
  if (thread_.joinable()) thread_.join();
}

uint64_t WatchLoop::passes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return passes_;
}

uint64_t WatchLoop::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

std::chrono::seconds WatchLoop::BackoffAfter(uint64_t n) const {
  if (n == 0) return settings_.interval;
  auto delay = settings_.backoff;
  for (uint64_t i = 1; i < n && delay < settings_.max_backoff; ++i) delay *= 2;
  return std::min(delay, settings_.max_backoff);
}

void WatchLoop::Run() {
  using Clock = std::chrono::steady_clock;
  std::string reason = "start";
  Clock::time_point earliest = Clock::now();  // no pass before this (backoff)
  while (true) {
    PassRequest request;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (reason != "start") {
        Clock::time_point due = earliest;
        // Sleep until due; a notification wakes the loop but does not cut a backoff short.
        while (!stopping_) {
          Clock::time_point now = Clock::now();
          if (now >= due) break;
          if (notified_ && failures_ == 0) {
            reason = "notification";
            break;
          }
          cv_.wait_until(lock, due);
        }
        if (stopping_) return;
        if (reason != "notification") reason = failures_ > 0 ? "retry" : "interval";
      }
      if (stopping_) return;
      request.number = ++passes_;
      request.reason = reason;
      request.notified.swap(pending_);
      notified_ = false;
    }
    int code = pass_(request);
    std::lock_guard<std::mutex> lock(mu_);
    if (code == 1) {
      ++failures_;
    } else {
      failures_ = 0;
    }
    earliest = Clock::now() + BackoffAfter(failures_);
    reason = "next";
    if (stopping_) return;
  }
}

}  // namespace sdoh::service
