#include "tests/client/fault_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace fhir::client::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

constexpr size_t kMaxBodyBytes = 64u << 20;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos + to.size())) {
    s->replace(pos, from.size(), to);
  }
}

std::string_view FaultName(Fault f) {
  switch (f) {
    case Fault::kStatus429:
      return "429";
    case Fault::kStatus503:
      return "503";
    case Fault::kReset:
      return "reset";
    case Fault::kStall:
      return "stall";
    case Fault::kTruncate:
      return "truncate";
    case Fault::kMalformedJson:
      return "malformed-json";
    case Fault::kNextLinkTo:
      return "next-link";
    case Fault::kDeliverTwice:
      return "deliver-twice";
    case Fault::kRespondWith:
      return "respond-with";
  }
  return "?";
}

HttpResponse Outcome(int status, unsigned version, const std::string& code,
                     const std::string& text) {
  HttpResponse res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/fhir+json");
  res.body() = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":")" +
               code + R"(","diagnostics":")" + text + "\"}]}";
  return res;
}

// Points the `next` link of a Bundle body at `origin` (keeping path and query).
std::string RewriteNextLink(const std::string& body, const std::string& origin) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("link") || !doc["link"].IsArray()) {
    return body;
  }
  for (rapidjson::Value& link : doc["link"].GetArray()) {
    if (!link.IsObject() || !link.HasMember("relation") || !link.HasMember("url")) continue;
    if (!link["relation"].IsString() || std::string(link["relation"].GetString()) != "next") {
      continue;
    }
    std::string url = link["url"].GetString();
    size_t scheme = url.find("://");
    size_t path = scheme == std::string::npos ? 0 : url.find('/', scheme + 3);
    std::string moved = origin + (path == std::string::npos ? "" : url.substr(path));
    link["url"].SetString(moved.c_str(), static_cast<rapidjson::SizeType>(moved.size()),
                          doc.GetAllocator());
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

std::string SeenRequest::Header(const std::string& name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return "";
}

// One client connection and, while a request is forwarded, its upstream socket. Stop() shuts
// both down from another thread; the fds are only closed under `mu` so that is never a
// shutdown of a reused fd.
struct FaultProxy::Connection {
  asio::io_context io;
  tcp::socket client{io};
  std::mutex mu;
  bool closed = false;
  int upstream_fd = -1;

  void Close(bool reset) {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    if (reset) client.set_option(asio::socket_base::linger(true, 0), ec);  // RST, not FIN
    client.close(ec);
  }
  void Shutdown() {
    std::lock_guard<std::mutex> lock(mu);
    if (!closed) ::shutdown(client.native_handle(), SHUT_RDWR);
    if (upstream_fd >= 0) ::shutdown(upstream_fd, SHUT_RDWR);
  }

  // One exchange with 127.0.0.1:port on a fresh connection. False with `error` set on failure.
  bool Exchange(uint16_t port, Request request, HttpResponse* response, std::string* error) {
    tcp::socket upstream(io);
    boost::system::error_code ec;
    upstream.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
    if (ec) {
      *error = "connect to upstream port " + std::to_string(port) + ": " + ec.message();
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      upstream_fd = upstream.native_handle();
    }
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    request.keep_alive(false);
    request.prepare_payload();
    http::write(upstream, request, ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    parser.skip(request.method() == http::verb::head);  // no body follows a HEAD's headers
    if (!ec) http::read(upstream, buffer, parser, ec);
    {
      std::lock_guard<std::mutex> lock(mu);
      upstream_fd = -1;
      boost::system::error_code ignored;
      upstream.close(ignored);
    }
    if (ec) {
      *error = "upstream exchange on port " + std::to_string(port) + ": " + ec.message();
      return false;
    }
    *response = parser.release();
    return true;
  }
};

FaultProxy::FaultProxy(FaultProxyOptions options) : options_(options) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    error_ = std::string("fault proxy cannot listen on 127.0.0.1: ") + std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  origin_ = "http://127.0.0.1:" + std::to_string(port_);
  if (options_.upstream_port != 0) {
    upstream_origin_ = "http://127.0.0.1:" + std::to_string(options_.upstream_port);
  }
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() { Stop(); }

void FaultProxy::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    stop_cv_.notify_all();
    for (const std::shared_ptr<Connection>& c : connections_) c->Shutdown();
    threads.swap(threads_);
  }
  if (acceptor_.joinable()) acceptor_.join();  // polls stopping_ every 50 ms
  for (std::thread& t : threads) t.join();     // the acceptor adds none once stopping_ is set
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void FaultProxy::AcceptLoop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || active_.load() >= kMaxConnections) {
      ::close(fd);
      continue;
    }
    auto connection = std::make_shared<Connection>();
    boost::system::error_code ec;
    connection->client.assign(tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      continue;
    }
    ++active_;
    connections_.push_back(connection);
    threads_.emplace_back([this, connection] { Serve(connection); });
  }
}

void FaultProxy::AddCue(Cue cue) {
  std::lock_guard<std::mutex> lock(mu_);
  cues_.push_back(std::move(cue));
}

void FaultProxy::ClearCues() {
  std::lock_guard<std::mutex> lock(mu_);
  cues_.clear();
}

bool FaultProxy::TakeCue(const std::string& method, const std::string& target, Cue* cue) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = cues_.begin(); it != cues_.end(); ++it) {
    if (!it->method.empty() && it->method != method) continue;
    if (!it->path_contains.empty() && target.find(it->path_contains) == std::string::npos) {
      continue;
    }
    *cue = *it;
    if (--it->times <= 0) cues_.erase(it);
    return true;
  }
  return false;
}

size_t FaultProxy::Record(SeenRequest seen) {
  std::lock_guard<std::mutex> lock(mu_);
  seen_.push_back(std::move(seen));
  return seen_.size() - 1;
}

void FaultProxy::SetRecordOutcome(size_t index, bool forwarded, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (index < seen_.size()) {
    seen_[index].forwarded = forwarded;
    seen_[index].status = status;
  }
}

std::vector<SeenRequest> FaultProxy::Seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

void FaultProxy::ClearSeen() {
  std::lock_guard<std::mutex> lock(mu_);
  seen_.clear();
}

int FaultProxy::Count(const std::string& method, const std::string& path_contains,
                      bool forwarded_only) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count_if(seen_.begin(), seen_.end(), [&](const SeenRequest& s) {
    return (method.empty() || s.method == method) &&
           s.target.find(path_contains) != std::string::npos && (!forwarded_only || s.forwarded);
  }));
}

int FaultProxy::CountStatus(int status) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count_if(seen_.begin(), seen_.end(),
                                        [&](const SeenRequest& s) { return s.status == status; }));
}

void FaultProxy::Serve(std::shared_ptr<Connection> c) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    boost::system::error_code ec;
    http::read(c->client, buffer, parser, ec);
    if (ec) break;  // EOF, reset, or Stop()
    Request req = parser.release();
    SeenRequest seen;
    seen.method = std::string(req.method_string());
    seen.target = std::string(req.target());
    for (const auto& field : req) {
      seen.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    seen.body = req.body();
    const size_t index = Record(seen);
    const bool keep_alive = req.keep_alive();

    auto reply = [&](HttpResponse res, bool forwarded) {
      // Point the server's absolute URLs (links, fullUrl, Location) at the proxy.
      if (!upstream_origin_.empty()) {
        ReplaceAll(&res.body(), upstream_origin_, origin_);
        for (http::field f : {http::field::location, http::field::content_location}) {
          if (res.count(f) != 0) {
            std::string v(res[f]);
            ReplaceAll(&v, upstream_origin_, origin_);
            res.set(f, v);
          }
        }
      }
      res.version(req.version());
      res.keep_alive(keep_alive);
      res.prepare_payload();
      SetRecordOutcome(index, forwarded, res.result_int());
      boost::system::error_code wec;
      http::write(c->client, res, wec);
      return !wec && keep_alive;
    };
    auto forward = [&](HttpResponse* res) {
      std::string error;
      if (options_.upstream_port == 0) {
        *res = Outcome(404, req.version(), "not-found", "recorder: nothing here");
        return false;
      }
      if (!c->Exchange(options_.upstream_port, req, res, &error)) {
        *res = Outcome(502, req.version(), "transient", error);
        return false;
      }
      return true;
    };

    if (options_.introspect_port != 0) {
      if (req.method() == http::verb::get &&
          seen.target.find("/.well-known/smart-configuration") != std::string::npos) {
        Request discovery = req;
        discovery.target("/.well-known/smart-configuration");
        HttpResponse res;
        std::string error;
        if (!c->Exchange(options_.introspect_port, discovery, &res, &error)) {
          res = Outcome(502, req.version(), "transient", error);
        }
        if (!reply(std::move(res), false)) break;
        continue;
      }
      std::string authorization = seen.Header("Authorization");
      bool active = false;
      if (authorization.starts_with("Bearer ")) {
        Request introspect{http::verb::post, "/introspect", 11};
        introspect.set(http::field::content_type, "application/x-www-form-urlencoded");
        introspect.body() = "token=" + authorization.substr(7);  // base64url: no escaping
        HttpResponse res;
        std::string error;
        rapidjson::Document doc;
        if (c->Exchange(options_.introspect_port, introspect, &res, &error)) {
          doc.Parse(res.body().c_str());
          active = !doc.HasParseError() && doc.IsObject() && doc.HasMember("active") &&
                   doc["active"].IsBool() && doc["active"].GetBool();
        }
      }
      if (!active) {
        HttpResponse res =
            Outcome(401, req.version(), "login", "missing, unknown or expired bearer token");
        res.set(http::field::www_authenticate, R"(Bearer error="invalid_token")");
        if (!reply(std::move(res), false)) break;
        continue;
      }
    }

    Cue cue;
    if (!TakeCue(seen.method, seen.target, &cue)) {
      HttpResponse res;
      bool forwarded = forward(&res);
      if (!reply(std::move(res), forwarded)) break;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_[index].fault = std::string(FaultName(cue.fault));
    }
    HttpResponse upstream;
    bool forwarded = false;
    if (cue.forward_first || cue.fault == Fault::kNextLinkTo) forwarded = forward(&upstream);
    bool keep = false;  // serve the next request on this connection
    switch (cue.fault) {
      case Fault::kStatus429:
      case Fault::kStatus503: {
        const int status = cue.fault == Fault::kStatus429 ? 429 : 503;
        HttpResponse res = Outcome(status, req.version(), status == 429 ? "throttled" : "transient",
                                   "fault proxy: injected " + std::to_string(status));
        if (!cue.retry_after.empty()) res.set(http::field::retry_after, cue.retry_after);
        keep = reply(std::move(res), forwarded);  // `forwarded`: whether the server saw it
        break;
      }
      case Fault::kReset:
        SetRecordOutcome(index, forwarded, 0);
        c->Close(/*reset=*/true);
        break;
      case Fault::kStall: {
        SetRecordOutcome(index, forwarded, 0);
        std::unique_lock<std::mutex> lock(mu_);
        stop_cv_.wait_for(lock, cue.stall, [&] { return stopping_; });
        break;
      }
      case Fault::kTruncate: {
        std::string body =
            forwarded ? upstream.body()
                      : R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":)"
                        R"({"resourceType":"Patient","id":"x"}}]})";
        if (!upstream_origin_.empty()) ReplaceAll(&body, upstream_origin_, origin_);
        const int status = forwarded ? upstream.result_int() : 200;
        std::string head = "HTTP/1.1 " + std::to_string(status) +
                           " OK\r\nContent-Type: application/fhir+json\r\nContent-Length: " +
                           std::to_string(body.size() + 100) + "\r\n\r\n";
        SetRecordOutcome(index, forwarded, status);
        boost::system::error_code wec;
        asio::write(c->client, asio::buffer(head + body.substr(0, body.size() / 2)), wec);
        break;
      }
      case Fault::kMalformedJson: {
        HttpResponse res{http::status::ok, req.version()};
        res.set(http::field::content_type, "application/fhir+json");
        res.body() = R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":)";
        keep = reply(std::move(res), forwarded);
        break;
      }
      case Fault::kDeliverTwice: {
        // The same request on two upstream connections at once (a double delivery by a
        // network middlebox or a retrying gateway); the client sees the first answer.
        HttpResponse first, second;
        std::string error1, error2;
        bool ok2 = false;
        Connection other;
        Request twin_request = req;
        if (cue.twin_without_conditions) {
          rapidjson::Document bundle;
          bundle.Parse(req.body().c_str());
          if (!bundle.HasParseError() && bundle.IsObject() && bundle.HasMember("entry") &&
              bundle["entry"].IsArray()) {
            for (auto& e : bundle["entry"].GetArray()) {
              if (e.IsObject() && e.HasMember("request") && e["request"].IsObject()) {
                e["request"].RemoveMember("ifNoneExist");
              }
            }
            rapidjson::StringBuffer sb;
            rapidjson::Writer<rapidjson::StringBuffer> w(sb);
            bundle.Accept(w);
            twin_request.body() = sb.GetString();
          }
        }
        if (cue.twin_without_conditions) {
          // The original commits first, then the unconditional twin: it always creates a second
          // copy. Sent at once, the twin could commit first and the original's own condition
          // would then find it, leaving no duplicate (a flaky test, seen in CI).
          forwarded = c->Exchange(options_.upstream_port, req, &first, &error1);
          ok2 = other.Exchange(options_.upstream_port, twin_request, &second, &error2);
        } else {
          std::thread twin([&] {
            ok2 = other.Exchange(options_.upstream_port, twin_request, &second, &error2);
          });
          forwarded = c->Exchange(options_.upstream_port, req, &first, &error1);
          twin.join();
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          SeenRequest copy = seen_[index];
          copy.forwarded = ok2;
          copy.status = ok2 ? second.result_int() : 0;
          copy.fault = "deliver-twice (second copy)";
          seen_.push_back(std::move(copy));
        }
        if (!forwarded) first = Outcome(502, req.version(), "transient", error1);
        keep = reply(std::move(first), forwarded);
        break;
      }
      case Fault::kRespondWith: {
        HttpResponse res{static_cast<http::status>(cue.respond_status), req.version()};
        res.set(http::field::content_type, "application/fhir+json");
        res.body() = cue.respond_body;
        keep = reply(std::move(res), false);
        break;
      }
      case Fault::kNextLinkTo: {
        if (forwarded) {
          if (!upstream_origin_.empty()) ReplaceAll(&upstream.body(), upstream_origin_, origin_);
          upstream.body() = RewriteNextLink(upstream.body(), cue.other_origin);
        }
        keep = reply(std::move(upstream), forwarded);
        break;
      }
    }
    if (!keep) break;
  }
  c->Close(false);
  --active_;
}

}  // namespace fhir::client::testing
