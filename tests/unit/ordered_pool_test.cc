// OrderedPool (plugin/pass/ordered_pool.h): the per-patient evaluation of a pass on several
// threads (issue 17). Every item is delivered once, in the order it was added, on the caller's
// thread, whatever the thread count and batch size; work runs on the workers too; an exception
// thrown by work reaches the caller after the items before its batch were delivered.
#include "plugin/pass/ordered_pool.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace sdoh {
namespace {

struct Item {
  size_t index = 0;
  size_t square = 0;          // set by work
  size_t slot = 0;            // the thread that ran work
  std::vector<size_t> owned;  // something work allocates, freed with the batch
};

TEST(OrderedPoolTest, DeliversEveryItemOnceInAddOrderOnTheCallersThread) {
  const std::thread::id caller = std::this_thread::get_id();
  for (size_t threads : {1u, 2u, 3u, 4u}) {
    for (size_t batch : {1u, 3u, 64u}) {
      std::vector<size_t> delivered;
      size_t wrong_thread = 0, bad_slot = 0, not_worked = 0;
      {
        OrderedPool<Item> pool(
            {threads, batch},
            [&](Item& item, size_t slot) {
              item.square = item.index * item.index;
              item.slot = slot;
              item.owned.assign(item.index % 7 + 1, item.index);
            },
            [&](Item& item) {
              if (std::this_thread::get_id() != caller) ++wrong_thread;
              if (item.slot >= threads) ++bad_slot;
              if (item.square != item.index * item.index || item.owned.empty()) ++not_worked;
              delivered.push_back(item.index);
            });
        for (size_t i = 0; i < 1000; ++i) {
          Item item;
          item.index = i;
          pool.Add(std::move(item));
        }
        pool.Finish();
      }
      ASSERT_EQ(delivered.size(), 1000u) << threads << " threads, batch " << batch;
      for (size_t i = 0; i < delivered.size(); ++i) {
        ASSERT_EQ(delivered[i], i) << threads << " threads, batch " << batch;
      }
      EXPECT_EQ(wrong_thread, 0u);
      EXPECT_EQ(bad_slot, 0u);
      EXPECT_EQ(not_worked, 0u);
    }
  }
}

TEST(OrderedPoolTest, WorkRunsOnAWorkerAsWellAsOnTheCaller) {
  // The caller's work waits until a worker has run an item, so the test ends only if a worker
  // takes part (bounded wait: a pool that never uses its worker fails instead of hanging).
  std::mutex mu;
  std::condition_variable cv;
  bool worker_ran = false;
  bool timed_out = false;
  std::vector<size_t> slots;
  {
    OrderedPool<Item> pool(
        {2, 4},
        [&](Item& item, size_t slot) {
          item.slot = slot;
          std::unique_lock<std::mutex> lock(mu);
          if (slot != 0) {
            worker_ran = true;
            cv.notify_all();
          } else if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return worker_ran; })) {
            timed_out = true;
          }
        },
        [&](Item& item) { slots.push_back(item.slot); });
    for (size_t i = 0; i < 64; ++i) pool.Add(Item{i, 0, 0, {}});
    pool.Finish();
  }
  EXPECT_FALSE(timed_out);
  EXPECT_TRUE(worker_ran);
  ASSERT_EQ(slots.size(), 64u);
}

TEST(OrderedPoolTest, AnExceptionInWorkReachesTheCallerAfterTheItemsBeforeItsBatch) {
  for (size_t threads : {1u, 2u, 3u}) {
    std::vector<size_t> delivered;
    bool thrown = false;
    try {
      OrderedPool<Item> pool(
          {threads, 10},
          [&](Item& item, size_t) {
            if (item.index == 505) throw std::runtime_error("item 505");
          },
          [&](Item& item) { delivered.push_back(item.index); });
      for (size_t i = 0; i < 1000; ++i) pool.Add(Item{i, 0, 0, {}});
      pool.Finish();
    } catch (const std::runtime_error& e) {
      thrown = std::string(e.what()) == "item 505";
    }
    EXPECT_TRUE(thrown) << threads << " threads";
    // Batches of 10: the failing batch holds items 500..509; everything before it arrived.
    ASSERT_EQ(delivered.size(), 500u) << threads << " threads";
    for (size_t i = 0; i < delivered.size(); ++i) ASSERT_EQ(delivered[i], i);
  }
}

}  // namespace
}  // namespace sdoh
