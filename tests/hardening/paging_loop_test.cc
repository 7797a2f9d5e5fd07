// A hostile FHIR server (issue 7): every search page's `next` link points at the page itself.
// `sdoh-bridge run` against it must stop with a clear error naming the link — after a couple
// of requests, not after fhir.max_pages (10,000) — and write nothing. The server is a small
// Beast HTTP/1.1 server in this test (loopback, one thread per connection) that counts what
// it is asked.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/hardening/child_process.h"

namespace sdoh::hardening {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Answers GET /fhir/metadata with a CapabilityStatement and every other GET with an empty
// searchset Bundle whose self and next links are the requested URL itself.
class SelfLinkingServer {
 public:
  SelfLinkingServer() : acceptor_(ioc_, tcp::endpoint(net::ip::address_v4::loopback(), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Accept(); });
  }
  ~SelfLinkingServer() {
    stopping_ = true;
    beast::error_code ec;
    acceptor_.close(ec);
    // Unblock accept() with a connection of our own.
    try {
      net::io_context ioc;
      tcp::socket s(ioc);
      s.connect(tcp::endpoint(net::ip::address_v4::loopback(), port_), ec);
    } catch (...) {
    }
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : sessions_) t.join();
  }

  uint16_t port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/fhir"; }
  // Requests seen per path (query stripped).
  std::map<std::string, int> Counts() {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }
  int Total() {
    int n = 0;
    for (const auto& [path, c] : Counts()) n += c;
    return n;
  }

 private:
  void Accept() {
    while (!stopping_) {
      beast::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      std::lock_guard<std::mutex> lock(mu_);
      sessions_.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  void Serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      std::string target(req.target());
      std::string path = target.substr(0, target.find('?'));
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++counts_[path];
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/fhir+json");
      res.set(http::field::date, "Tue, 14 Nov 2023 22:13:20 GMT");
      const std::string self = "http://127.0.0.1:" + std::to_string(port_) + target;
      if (path == "/fhir/metadata") {
        res.body() = R"({"resourceType":"CapabilityStatement","status":"active","kind":"instance",)"
                     R"("fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server"}]})";
      } else {
        res.body() = R"({"resourceType":"Bundle","type":"searchset","total":1000000,)"
                     R"("meta":{"lastUpdated":"2023-11-14T22:13:20Z"},"link":[)"
                     R"({"relation":"self","url":")" +
                     self + R"("},{"relation":"next","url":")" + self + R"("}],"entry":[]})";
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::thread> sessions_;
  std::map<std::string, int> counts_;
};

TEST(PagingLoopTest, NextLinkToItselfStopsTheRunWithAnErrorNamingTheLink) {
  SelfLinkingServer server;
  fs::path out = fs::temp_directory_path() / ("sdoh-paging-loop-" + std::to_string(getpid()));
  fs::remove_all(out);
  ChildProcess run(SDOH_BRIDGE_BIN, {"run", "--dry-run", "--config",
                                     std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml",
                                     "--source", server.base(), "--out", out.string()});
  ASSERT_GT(run.pid(), 0);
  std::optional<int> code = run.Wait(300s);
  ASSERT_TRUE(code.has_value()) << "the run did not end within 300 s; requests: " << server.Total()
                                << "\n"
                                << run.output();
  EXPECT_EQ(*code, 1) << run.output();
  std::cout << "run said: " << run.output() << "requests: " << server.Total() << "\n";
  // A clear error: the paging loop, and the link that repeats.
  EXPECT_NE(run.output().find("already visited"), std::string::npos) << run.output();
  EXPECT_NE(run.output().find(server.base() + "/"), std::string::npos) << run.output();
  // Stopped at once (each search type is asked at most twice), not after max_pages pages.
  for (const auto& [path, count] : server.Counts()) {
    EXPECT_LE(count, 2) << path << " was requested " << count << " times";
  }
  EXPECT_LE(server.Total(), 12);
  EXPECT_FALSE(fs::exists(out / "flags.ndjson")) << "a failed read must not leave outputs";
  fs::remove_all(out);
}

}  // namespace
}  // namespace sdoh::hardening
