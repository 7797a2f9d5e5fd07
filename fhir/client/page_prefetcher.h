// The pages of one search fetched ahead on a thread of its own (issue 17): while the caller
// hands page n to its visitor, the `sdoh-fetch` thread requests page n + 1 and parses its
// body. Pages and errors come back in the order SearchPager gives them, so a reader sees
// exactly what it would see fetching on its own thread — only sooner. At most `ahead` pages
// wait unread (memory is bounded by the page size, not by the search). With `ahead` 0 no
// thread is started and Next() fetches on the caller's thread.
//
// The pager's client is used by the fetch thread alone until this object is destroyed (which
// waits for a request in flight to finish); the caller must not use it meanwhile.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "fhir/client/fhir_client.h"

namespace fhir::client {

class PagePrefetcher {
 public:
  PagePrefetcher(SearchPager pager, size_t ahead);
  ~PagePrefetcher();
  PagePrefetcher(const PagePrefetcher&) = delete;
  PagePrefetcher& operator=(const PagePrefetcher&) = delete;

  // SearchPager::Next's contract: true with page() set; false after the last page; an error
  // stops the search (later calls return false).
  ClientResult<bool> Next();
  const rapidjson::Document& page() const { return *current_.body; }
  const Response& response() const { return current_; }

 private:
  struct Fetched {
    ClientResult<bool> more = false;
    Response response;
  };
  void Fetch();  // the fetch thread

  SearchPager pager_;
  const size_t ahead_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Fetched> ready_;  // guarded by mu_
  bool stop_ = false;          // guarded by mu_
  bool ended_ = false;         // the caller has seen the last page or an error
  Response current_;
  std::thread thread_;
};

}  // namespace fhir::client
