#include "plugin/writeback/lookup_pool.h"

#include <pthread.h>

namespace sdoh::writeback {

LookupPool::LookupPool(size_t threads) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back(&LookupPool::Work, this);
}

LookupPool::~LookupPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void LookupPool::Work() {
  pthread_setname_np(pthread_self(), "sdoh-lookup");  // in top, perf and gdb
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace sdoh::writeback
