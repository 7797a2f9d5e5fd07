// LookupPool (issue 17): the writeback's look-ups of the next patients run on the pool's
// threads, not the caller's; results come back through futures in whatever order the caller
// takes them; the destructor runs everything submitted before it joins.
#include "plugin/writeback/lookup_pool.h"

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace sdoh::writeback {
namespace {

TEST(LookupPoolTest, TasksRunOnThePoolsThreadsConcurrentlyAndResultsComeBackInSubmitOrder) {
  LookupPool pool(2);
  // Two tasks that each wait for the other to have started: they finish only when they run
  // at the same time (bounded wait; a pool of one thread, or the caller's, fails it).
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  auto both = [&](int value) {
    std::unique_lock<std::mutex> lock(mu);
    ++started;
    cv.notify_all();
    bool met = cv.wait_for(lock, std::chrono::seconds(30), [&] { return started >= 2; });
    return std::make_pair(value, std::make_pair(met, std::this_thread::get_id()));
  };
  auto a = pool.Submit([&] { return both(1); });
  auto b = pool.Submit([&] { return both(2); });
  auto ra = a.get();
  auto rb = b.get();
  EXPECT_EQ(ra.first, 1);
  EXPECT_EQ(rb.first, 2);
  EXPECT_TRUE(ra.second.first);
  EXPECT_TRUE(rb.second.first);
  EXPECT_NE(ra.second.second, std::this_thread::get_id());
  EXPECT_NE(rb.second.second, std::this_thread::get_id());
  EXPECT_NE(ra.second.second, rb.second.second);

  std::vector<std::future<int>> results;
  for (int i = 0; i < 100; ++i) results.push_back(pool.Submit([i] { return i * i; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(results[i].get(), i * i);
}

TEST(LookupPoolTest, DestroyingThePoolRunsWhatWasSubmitted) {
  std::atomic<int> ran{0};
  std::vector<std::future<void>> results;
  {
    LookupPool pool(1);
    for (int i = 0; i < 50; ++i) results.push_back(pool.Submit([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 50);
  for (auto& r : results) {
    EXPECT_EQ(r.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  }
}

}  // namespace
}  // namespace sdoh::writeback
