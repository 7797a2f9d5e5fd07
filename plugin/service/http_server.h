// The HTTP/1.1 edge of `serve`, in the shape of Beast's advanced_server example: an async
// acceptor, one session per connection with its own strand, a timeout on every read and write,
// a request body limit, keep-alive, and a graceful stop (stop accepting, close idle
// connections, let in-flight requests finish). A synchronous handler runs on an io_context
// thread, so it must not block (the CDS evaluation is pure and fast); a handler that needs
// blocking I/O (fetching missing prefetch) is an AsyncHttpHandler that hands the work to its
// own threads and calls `respond` from there.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fhir/status.h"

namespace sdoh::service {

struct HttpRequest {
  std::string method;
  std::string target;  // path and query as sent
  std::string authorization;
  std::vector<std::pair<std::string, std::string>> headers;  // every header, names lower-case
  std::string body;
  bool from_loopback = false;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string www_authenticate;  // set on 401
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Calls `respond` exactly once, from any thread (the session's strand writes the response).
using HttpResponder = std::function<void(HttpResponse)>;
using AsyncHttpHandler = std::function<void(HttpRequest, HttpResponder)>;

// The value of header `name` (lower-case), or "".
std::string HeaderValue(const HttpRequest& request, const std::string& name);

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: an ephemeral port (see HttpServer::port())
  int threads = 2;
  size_t body_limit = 4u << 20;
  std::chrono::seconds read_timeout{30};  // whole request, and idle keep-alive wait
  std::chrono::seconds write_timeout{30};
  // Connections open at once; one more is accepted and closed at once (503 attempted). 0: sized
  // from RLIMIT_NOFILE (DefaultMaxConnections) so that accept never runs out of descriptors.
  size_t max_connections = 0;
  // Operational events (accept paused on EMFILE, connections refused at the cap): one line
  // each, no request content. Null: silent.
  std::function<void(const std::string&)> log;
};

// The connection cap for a soft descriptor limit: the limit minus a reserve for the process's
// own files (config, ledger, curl, threads) — half of it, at most 64 — capped at 10000.
size_t DefaultMaxConnections(uint64_t nofile_soft_limit);
// The same for this process's current RLIMIT_NOFILE.
size_t DefaultMaxConnections();

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  HttpServer(HttpServerOptions options, AsyncHttpHandler handler);
  ~HttpServer();  // Stop() then Wait()

  // Binds, listens and starts the threads. Error names host:port.
  fhir::Status Start();
  uint16_t port() const { return port_; }
  size_t max_connections() const;
  // Stops accepting and closes idle connections; requests being handled finish and their
  // responses are written. Returns at once; safe from any thread, more than once.
  void Stop();
  // Blocks until every connection is closed and the threads have ended.
  void Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace sdoh::service
