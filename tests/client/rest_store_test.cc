// RestStore's paged read with pages fetched ahead (PagePrefetcher, issue 17), against a scripted
// transport: the same resources, locations and errors in the same order as fetching on the
// caller's thread, and the next page requested while the visitor still holds the current one.
// (Against the real FHIR test server: fhir_client_integration_test.cc and
// tests/cli/server_run_test.cc.)
#include "fhir/client/rest_store.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fhir/json.h"
#include "tests/client/fakes.h"

namespace fhir::client {
namespace {

using testing::RetryRig;
using testing::ScriptedTransport;

const char* kBase = "http://fhir.test/fhir";

// Page `page` (0-based) of a Patient search of `pages` pages of 3: the ids p<page>-<k>, a next
// link on every page but the last. Its second entry has no resource (a reported entry).
std::string Page(int page, int pages) {
  std::string self = std::string(kBase) + "/Patient?_count=3&page=" + std::to_string(page);
  std::string links = "[{\"relation\":\"self\",\"url\":\"" + self + "\"}";
  if (page + 1 < pages) {
    links += ",{\"relation\":\"next\",\"url\":\"" + std::string(kBase) +
             "/Patient?_count=3&page=" + std::to_string(page + 1) + "\"}";
  }
  links += "]";
  std::string entries;
  for (int k = 0; k < 3; ++k) {
    if (k > 0) entries += ",";
    if (k == 1) {
      entries += "{\"fullUrl\":\"x\"}";
    } else {
      entries += "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"p" + std::to_string(page) +
                 "-" + std::to_string(k) + "\"}}";
    }
  }
  return "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"link\":" + links + ",\"entry\":[" +
         entries + "]}";
}

// The page a request asks for (0 for the first search request).
int PageOf(const HttpRequest& r) {
  size_t at = r.url.find("page=");
  return at == std::string::npos ? 0 : std::stoi(r.url.substr(at + 5));
}

struct Rig : RetryRig {
  std::shared_ptr<FhirClient> client;
  Rig() {
    FhirClientOptions o;
    o.base_url = kBase;
    client = std::make_shared<FhirClient>(o, retrying, nullptr);
  }
};

// Everything the visitor is told, as text, in order.
class RecordingVisitor : public fhir::ResourceVisitor {
 public:
  void OnResource(std::string_view type, const rapidjson::Value& resource,
                  const fhir::SourceLocation& where) override {
    seen.push_back(std::string(type) + " " + std::string(json::StrMember(resource, "id")) + " @" +
                   std::string(where.origin) + "#" + std::to_string(where.position));
  }
  void OnUnreadable(std::string_view type, const fhir::SourceLocation& where,
                    std::string_view reason, const std::string& detail) override {
    seen.push_back(std::string(type) + " unreadable " + std::string(reason) + " @" +
                   std::string(where.origin) + "#" + std::to_string(where.position) + " " + detail);
  }
  std::vector<std::string> seen;
};

struct ReadResult {
  fhir::Status status;
  std::vector<std::string> seen;
  uint64_t resources = 0;
  uint64_t bytes = 0;
  size_t requests = 0;
};

// A search of 6 pages; with `fail_at` >= 0 that page's request gets a 404 (not retried).
ReadResult ReadWith(size_t pages_ahead, int fail_at) {
  Rig rig;
  rig.transport->handler = [&](const HttpRequest& r) -> ClientResult<HttpResponse> {
    int page = PageOf(r);
    if (page == fail_at) return ScriptedTransport::Status(404, "{\"resourceType\":\"Bundle\"}");
    return ScriptedTransport::Status(200, Page(page, 6));
  };
  RestStoreOptions o;
  o.page_size = 3;
  o.pages_ahead = pages_ahead;
  RestStore store(rig.client.get(), o);
  RecordingVisitor v;
  ReadResult out;
  out.status = store.ReadAll({"Patient"}, v);
  out.seen = std::move(v.seen);
  out.resources = store.stats().resources;
  out.bytes = store.stats().bytes;
  out.requests = rig.transport->requests.size();
  return out;
}

// An error message without its random X-Request-Id.
std::string WithoutRequestId(const std::string& m) { return m.substr(0, m.find(" [X-Request-Id")); }

TEST(RestStorePagesAheadTest, SameResourcesLocationsAndStatsInTheSameOrder) {
  ReadResult one = ReadWith(0, -1);
  ASSERT_TRUE(one.status.ok()) << one.status.message();
  ASSERT_EQ(one.seen.size(), 18u);
  EXPECT_EQ(one.resources, 12u);
  EXPECT_EQ(one.requests, 6u);
  for (size_t ahead : {1u, 2u, 5u}) {
    ReadResult r = ReadWith(ahead, -1);
    ASSERT_TRUE(r.status.ok()) << ahead << ": " << r.status.message();
    EXPECT_EQ(r.seen, one.seen) << ahead;
    EXPECT_EQ(r.resources, one.resources) << ahead;
    EXPECT_EQ(r.bytes, one.bytes) << ahead;
    EXPECT_EQ(r.requests, one.requests) << ahead;
  }
}

TEST(RestStorePagesAheadTest, AnErrorMidSearchComesAfterThePagesBeforeItAndStopsTheFetching) {
  ReadResult one = ReadWith(0, 3);
  ASSERT_FALSE(one.status.ok());
  EXPECT_NE(one.status.message().find("page=3 answered HTTP 404"), std::string::npos);
  ASSERT_EQ(one.seen.size(), 9u);  // pages 0-2, then the error
  EXPECT_EQ(one.requests, 4u);
  for (size_t ahead : {1u, 2u, 5u}) {
    ReadResult r = ReadWith(ahead, 3);
    EXPECT_FALSE(r.status.ok()) << ahead;
    EXPECT_EQ(WithoutRequestId(r.status.message()), WithoutRequestId(one.status.message()))
        << ahead;
    EXPECT_EQ(r.seen, one.seen) << ahead;
    EXPECT_EQ(r.requests, one.requests) << ahead;  // nothing requested past the error
  }
}

// The point of fetching ahead: page 1 is requested, from another thread, while the visitor is
// still on page 0. The visitor waits on its first resource until the transport has been asked
// for page 1 (bounded: a fetch on the caller's thread never comes, and the wait gives up).
TEST(RestStorePagesAheadTest, TheNextPageIsRequestedFromAnotherThreadWhileTheVisitorHoldsAPage) {
  Rig rig;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<int, std::thread::id>> asked;  // page, requesting thread
  rig.transport->handler = [&](const HttpRequest& r) -> ClientResult<HttpResponse> {
    {
      std::lock_guard<std::mutex> lock(mu);
      asked.emplace_back(PageOf(r), std::this_thread::get_id());
    }
    cv.notify_all();
    return ScriptedTransport::Status(200, Page(PageOf(r), 3));
  };
  class WaitingVisitor : public RecordingVisitor {
   public:
    std::function<void()> on_first;
    void OnResource(std::string_view type, const rapidjson::Value& resource,
                    const fhir::SourceLocation& where) override {
      if (seen.empty()) on_first();
      RecordingVisitor::OnResource(type, resource, where);
    }
  } v;
  bool page1_asked_while_on_page0 = false;
  v.on_first = [&] {
    std::unique_lock<std::mutex> lock(mu);
    page1_asked_while_on_page0 = cv.wait_for(lock, std::chrono::seconds(30), [&] {
      for (const auto& [page, thread] : asked) {
        if (page == 1) return true;
      }
      return false;
    });
  };
  RestStoreOptions o;
  o.page_size = 3;
  o.pages_ahead = 1;
  RestStore store(rig.client.get(), o);
  ASSERT_TRUE(store.ReadAll({"Patient"}, v).ok());
  EXPECT_TRUE(page1_asked_while_on_page0);
  ASSERT_EQ(asked.size(), 3u);
  for (const auto& [page, thread] : asked) {
    EXPECT_NE(thread, std::this_thread::get_id()) << "page " << page;
  }
  EXPECT_EQ(v.seen.size(), 9u);
}

}  // namespace
}  // namespace fhir::client
