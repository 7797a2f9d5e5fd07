// The HTTP seam: one request in, one response (any status) or a transport error out.
// CurlTransport is the real one (libcurl); tests inject fakes behind HttpTransport.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/client/client_error.h"

namespace fhir::client {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Receives a 2xx response's body as it arrives, instead of HttpResponse::body (bulk export
// files go straight to their spool file). A transport that cannot stream ignores it and fills
// `body` as usual; the size limit (max_response_bytes) does not apply to a streamed body.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual bool Begin() = 0;                        // a 2xx response starts (again): start over
  virtual bool Write(std::string_view chunk) = 0;  // false aborts the transfer
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;   // e.g. {"Accept", "application/fhir+json"}; names as given
  std::string body;  // sent for POST/PUT/PATCH
  // The transport must not send it twice on its own: it goes on a fresh connection, because
  // libcurl silently re-sends a request whose reused keep-alive connection closes before any
  // response byte, and for a plain POST create that is a second resource. RetryingTransport
  // sets it for RequestKind::kUnsafeCreate.
  bool at_most_once = false;
  BodySink* sink = nullptr;  // not owned; see BodySink
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // names lower-cased, in order received (final response only)
  std::string body;
  int attempts = 1;        // set by RetryingTransport: how many times the request was sent
  std::string request_id;  // the X-Request-Id sent
  // First header value by lower-case name, or empty.
  std::string_view Header(std::string_view lower_name) const;
};

// The value of `name` (case-insensitive) in `headers`, or empty.
std::string_view FindHeader(const Headers& headers, std::string_view name);

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends one request once (no retries). Any HTTP status is a response; errors are
  // kConnect, kNetwork, kTimeout, kTls, kResponseTooLarge. `timeout` caps the whole exchange
  // (the transport may use a shorter configured one). Thread-safe.
  virtual ClientResult<HttpResponse> Send(const HttpRequest& request,
                                          std::chrono::milliseconds timeout) = 0;
};

struct CurlTransportOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{60'000};  // per attempt
  size_t max_response_bytes = 64u << 20;            // decoded body; exceeding aborts
  bool verify_tls = true;                           // peer and host verification
  std::string ca_file;                              // empty: system default bundle
  std::string ca_dir;
  std::string user_agent;  // empty: "sdoh-bridge/<SDOH_BRIDGE_VERSION>"
};

// libcurl easy handles kept in a small pool and reused (HTTP keep-alive); gzip/deflate
// accepted; proxies from the environment (libcurl's http_proxy/https_proxy/no_proxy);
// redirects are NOT followed (a redirect must never carry the Authorization header elsewhere).
// Adds `X-Request-Id` (random) when the request has none.
class CurlTransport : public HttpTransport {
 public:
  explicit CurlTransport(CurlTransportOptions options);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  ClientResult<HttpResponse> Send(const HttpRequest& request,
                                  std::chrono::milliseconds timeout) override;

 private:
  void* Acquire();  // a CURL* from the pool or a new one
  void Release(void* handle);

  CurlTransportOptions options_;
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles with their connection caches
};

// A random 128-bit id as 32 hex characters (OpenSSL RAND_bytes).
std::string RandomHexId();

}  // namespace fhir::client
