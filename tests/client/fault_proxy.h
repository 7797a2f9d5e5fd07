// A fault-injecting HTTP/1.1 reverse proxy for integration tests (loopback only): sits between
// the FHIR client and the real FHIR test server, forwards requests verbatim (only Host and
// Connection change; the server's own origin in response bodies and Location headers becomes
// the proxy's, so paging links and Locations stay on the proxy), and for the next N requests
// matching a cue answers 429/503, resets the connection, stalls, truncates the body, returns
// malformed JSON or moves the `next` link to another host instead. Optionally it enforces
// bearer tokens by asking a token server's RFC 7662 /introspect endpoint
// (tests/fhir-server/token-server.mjs). It records every request it saw, so tests can count
// how many times a write reached the server.
//
// Threading: one acceptor thread and one thread per client connection (synchronous Beast),
// at most kMaxConnections at once. Stop() (and the destructor) closes everything and joins; a
// stall ends early on Stop(). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fhir::client::testing {

enum class Fault {
  kStatus429,      // 429 + Retry-After (if set); never forwarded
  kStatus503,      // 503 + Retry-After (if set)
  kReset,          // close the socket with a TCP RST and no response
  kStall,          // send nothing for `stall`, then close
  kTruncate,       // headers with a Content-Length larger than the body sent, then close
  kMalformedJson,  // 200, application/fhir+json, a body that is not JSON
  kNextLinkTo,     // forward, then point the Bundle's `next` link at `other_origin`
  kDeliverTwice,   // send the request to the server twice at once; answer with one response
  kRespondWith,    // answer `respond_status` with `respond_body` (FHIR JSON); never forwarded
};

struct Cue {
  Fault fault = Fault::kStatus503;
  std::string method;         // "POST"; empty: any
  std::string path_contains;  // substring of the request target; empty: any
  int times = 1;              // applies to the next `times` matching requests
  // Send the request to the server first (it commits), then fault the answer. Implied by
  // kNextLinkTo; kTruncate without it sends a made-up body.
  bool forward_first = false;
  std::string retry_after;  // Retry-After value for 429/503; empty: no header
  std::chrono::milliseconds stall{5000};
  std::string other_origin;  // kNextLinkTo: e.g. "http://localhost:1234"
  // kDeliverTwice: the second copy's transaction entries lose `request.ifNoneExist`, like a
  // server whose conditional-create check raced and let a duplicate through. The second copy is
  // then sent after the first has committed, so the duplicate always exists.
  bool twin_without_conditions = false;
  int respond_status = 200;  // kRespondWith
  std::string respond_body;  // kRespondWith
};

// One request as the proxy received it.
struct SeenRequest {
  std::string method;
  std::string target;  // path and query as sent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool forwarded = false;  // it reached the upstream server
  std::string fault;       // the cue applied ("" when none)
  int status = 0;          // status sent back to the client; 0 for reset / stall
  std::string Header(const std::string& name) const;  // case-insensitive; "" when absent
};

struct FaultProxyOptions {
  // The upstream FHIR server on 127.0.0.1; 0 makes a recorder that answers every request 404
  // (an "other host" that notes what reached it).
  uint16_t upstream_port = 0;
  // Token enforcement: when set, every request except .well-known/smart-configuration needs a
  // bearer token that POST 127.0.0.1:<introspect_port>/introspect calls active; else 401.
  // GET …/.well-known/smart-configuration is forwarded to that server.
  uint16_t introspect_port = 0;
};

class FaultProxy {
 public:
  static constexpr int kMaxConnections = 64;

  // Listens on 127.0.0.1:<free port>. REQUIRES: nothing; on failure origin() is empty and
  // error() says why.
  explicit FaultProxy(FaultProxyOptions options);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  const std::string& origin() const { return origin_; }  // "http://127.0.0.1:N"
  uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }

  void AddCue(Cue cue);
  void ClearCues();
  std::vector<SeenRequest> Seen() const;  // in arrival order
  // How many seen requests have this method and contain `path_contains` in their target.
  int Count(const std::string& method, const std::string& path_contains,
            bool forwarded_only = false) const;
  int CountStatus(int status) const;  // responses sent with this status
  void ClearSeen();
  // Closes the listener and every connection, ends stalls, joins all threads. Idempotent.
  void Stop();

 private:
  struct Connection;
  void AcceptLoop();
  void Serve(std::shared_ptr<Connection> connection);
  bool TakeCue(const std::string& method, const std::string& target, Cue* cue);
  size_t Record(SeenRequest seen);
  void SetRecordOutcome(size_t index, bool forwarded, int status);

  FaultProxyOptions options_;
  std::string origin_;
  std::string upstream_origin_;
  uint16_t port_ = 0;
  std::string error_;
  int listen_fd_ = -1;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::vector<Cue> cues_;
  std::vector<SeenRequest> seen_;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
  std::atomic<int> active_{0};
};

}  // namespace fhir::client::testing
