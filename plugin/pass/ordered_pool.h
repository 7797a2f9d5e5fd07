// Runs a function over items on several threads and hands the items on in the order they were
// added (issue 17: the per-patient evaluation of a pass on the run's threads). The caller adds
// items one by one; they are grouped in batches of `batch`; `threads - 1` workers, and the caller
// whenever it must wait for the oldest batch, run `work` on whole batches; `deliver` runs on the
// caller's thread only, item by item, in the order the items were added. So whatever `deliver`
// does (the sinks: outputs, writeback, counts) sees exactly what one thread would, in the same
// order; only `work` must be safe to run on several items at once (`slot` names the thread:
// 0 the caller, 1..threads-1 the workers, for per-thread state).
//
// Memory: at most 2 * threads + 1 batches at once, whatever the number of items. A delivered
// batch run by a worker is destroyed by that worker (what `work` allocated is freed by the thread
// that allocated it: glibc frees a chunk of another thread's arena under that arena's lock, and
// two threads contending for it cost more than the work itself); `deliver` frees what the
// caller allocated.
// Errors: an exception thrown by `work` is rethrown by Add or Finish, on the caller's thread,
// when its batch's turn to be delivered comes (the items before it are delivered first).
// Thread safety: one caller thread; the workers are internal.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace sdoh {

template <typename Item>
class OrderedPool {
 public:
  struct Options {
    size_t threads = 2;  // the caller's included; 1: the caller alone
    size_t batch = 32;   // items a thread takes at once
  };
  using Work = std::function<void(Item& item, size_t slot)>;
  using Deliver = std::function<void(Item& item)>;

  OrderedPool(Options options, Work work, Deliver deliver)
      : options_{options.threads > 0 ? options.threads : 1, options.batch > 0 ? options.batch : 1},
        work_(std::move(work)),
        deliver_(std::move(deliver)) {
    for (size_t slot = 1; slot < options_.threads; ++slot) {
      workers_.emplace_back([this, slot] { WorkLoop(slot); });
    }
  }
  // Stops and joins the workers; what Finish did not deliver is dropped.
  ~OrderedPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  OrderedPool(const OrderedPool&) = delete;
  OrderedPool& operator=(const OrderedPool&) = delete;

  void Add(Item item) {
    if (!filling_) {
      filling_ = std::make_unique<Batch>();
      filling_->items.reserve(options_.batch);
    }
    filling_->items.push_back(std::move(item));
    if (filling_->items.size() >= options_.batch) Submit();
  }
  // Delivers every item added.
  void Finish() {
    if (filling_) Submit();
    while (!inflight_.empty()) DeliverOldest();
  }

 private:
  struct Batch {
    std::vector<Item> items;
    bool done = false;  // guarded by mu_
    size_t slot = 0;    // the thread that ran it
    std::exception_ptr error;
  };

  void Submit() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(filling_.get());
    }
    cv_.notify_one();
    inflight_.push_back(std::move(filling_));
    while (inflight_.size() > 2 * options_.threads) DeliverOldest();
  }

  void Run(Batch& batch, size_t slot) {
    batch.slot = slot;
    try {
      for (Item& item : batch.items) work_(item, slot);
    } catch (...) {
      batch.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.done = true;
    }
    cv_.notify_all();
  }

  // Takes the oldest batch not started (REQUIRES: mu_ held, queue_ not empty).
  Batch* Take() {
    Batch* batch = queue_.front();
    queue_.pop_front();
    return batch;
  }

  void WorkLoop(size_t slot) {
    pthread_setname_np(pthread_self(), "sdoh-evaluate");  // in top, perf and gdb
    for (;;) {
      Batch* batch = nullptr;
      std::vector<std::unique_ptr<Batch>> delivered;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !dispose_[slot].empty(); });
        delivered.swap(dispose_[slot]);
        if (stop_) return;  // `delivered` is freed here
        if (!queue_.empty()) batch = Take();
      }
      delivered.clear();
      if (batch != nullptr) Run(*batch, slot);
    }
  }

  void DeliverOldest() {
    Batch& oldest = *inflight_.front();
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      if (oldest.done) break;
      if (!queue_.empty()) {
        // Rather than wait, run a batch not started yet: the oldest itself when no worker took
        // it, else a later one.
        Batch* mine = Take();
        lock.unlock();
        Run(*mine, 0);
        continue;
      }
      cv_.wait(lock, [&] { return oldest.done; });
    }
    std::unique_ptr<Batch> batch = std::move(inflight_.front());
    inflight_.pop_front();
    if (batch->error) std::rethrow_exception(batch->error);
    for (Item& item : batch->items) deliver_(item);
    if (batch->slot == 0) return;  // ours: freed here
    {
      std::lock_guard<std::mutex> lock(mu_);
      dispose_[batch->slot].push_back(std::move(batch));
    }
    cv_.notify_all();
  }

  const Options options_;
  const Work work_;
  const Deliver deliver_;
  std::unique_ptr<Batch> filling_;               // the caller's
  std::deque<std::unique_ptr<Batch>> inflight_;  // the caller's: submitted, not delivered
  std::mutex mu_;                                // guards what follows and Batch::done
  std::condition_variable cv_;
  std::deque<Batch*> queue_;  // submitted, not started, oldest first
  // Per worker slot: delivered batches it ran, for it to free.
  std::vector<std::vector<std::unique_ptr<Batch>>> dispose_ =
      std::vector<std::vector<std::unique_ptr<Batch>>>(options_.threads);
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace sdoh
