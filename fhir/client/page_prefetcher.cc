#include "fhir/client/page_prefetcher.h"

#include <pthread.h>

#include <utility>

namespace fhir::client {

PagePrefetcher::PagePrefetcher(SearchPager pager, size_t ahead)
    : pager_(std::move(pager)), ahead_(ahead) {}

PagePrefetcher::~PagePrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PagePrefetcher::Fetch() {
  pthread_setname_np(pthread_self(), "sdoh-fetch");  // in top, perf and gdb
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || ready_.size() < ahead_; });
      if (stop_) return;
    }
    Fetched f;
    f.more = pager_.Next();
    const bool last = !f.more.ok() || !f.more.value();
    if (!last) f.response = pager_.TakeResponse();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(f));
    }
    cv_.notify_all();
    if (last) return;
  }
}

ClientResult<bool> PagePrefetcher::Next() {
  if (ended_) return false;
  Fetched f;
  if (ahead_ == 0) {
    f.more = pager_.Next();
    if (f.more.ok() && f.more.value()) f.response = pager_.TakeResponse();
  } else {
    if (!thread_.joinable()) thread_ = std::thread(&PagePrefetcher::Fetch, this);
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !ready_.empty(); });
      f = std::move(ready_.front());
      ready_.pop_front();
    }
    cv_.notify_all();
  }
  current_ = std::move(f.response);
  if (!f.more.ok() || !f.more.value()) ended_ = true;
  return std::move(f.more);
}

}  // namespace fhir::client
