#include "plugin/service/http_server.h"

#include <sys/resource.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <set>

namespace sdoh::service {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

class Session;

// What sessions share with the server: options, handler, the stop flag and the live set.
struct Shared {
  HttpServerOptions options;
  AsyncHttpHandler handler;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::set<std::shared_ptr<Session>> sessions;
  // Responders not yet destroyed (guarded by mu), and their last one's signal.
  size_t responders = 0;
  std::condition_variable responders_done;
};

// What a responder holds. Members are destroyed in reverse order: the session, then the work
// guard (which may let the io_context stop), and last the count that ~HttpServer waits for.
class Pending {
 public:
  Pending(std::shared_ptr<Shared> shared, const net::any_io_executor& executor,
          std::shared_ptr<Session> session, bool keep_alive)
      : count_(std::move(shared)),
        work(net::make_work_guard(executor)),
        session(std::move(session)),
        keep_alive(keep_alive) {}

 private:
  class Count {
   public:
    explicit Count(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {
      std::lock_guard<std::mutex> lock(shared_->mu);
      ++shared_->responders;
    }
    Count(const Count&) = delete;
    Count& operator=(const Count&) = delete;
    ~Count() {
      {
        std::lock_guard<std::mutex> lock(shared_->mu);
        --shared_->responders;
      }
      shared_->responders_done.notify_all();
    }

   private:
    std::shared_ptr<Shared> shared_;
  };
  Count count_;  // declared first: destroyed last

 public:
  net::executor_work_guard<net::any_io_executor> work;
  std::shared_ptr<Session> session;
  const bool keep_alive;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {}

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoRead(); });
  }

  // On the server's stop: an idle connection (waiting for a request) is closed now; a busy one
  // closes after its response is written.
  void OnServerStop() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->DoClose();
    });
  }

 private:
  void DoRead() {
    if (shared_->stopping) return DoClose();
    parser_.emplace();
    parser_->body_limit(shared_->options.body_limit);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(shared_->options.read_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      HttpResponse r{413, "application/json", R"({"error":"request body too large"})", ""};
      return Write(r, false);
    }
    if (ec) return DoClose();  // end_of_stream, timeout, reset, stop
    busy_ = true;
    const auto& req = parser_->get();
    // RFC 9112 §6.3: a request whose Transfer-Encoding does not end in `chunked` has no
    // determinable length. Beast reads it as bodiless, so its body would be parsed as the next
    // request (issue 13 #10, request smuggling). 400 and close; the buffered bytes are dropped.
    if (req.count(http::field::transfer_encoding) > 0 && !parser_->chunked()) {
      HttpResponse r{400, "application/json",
                     R"({"error":"Transfer-Encoding must end in chunked"})", ""};
      return Write(r, false);
    }
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.authorization = std::string(req[http::field::authorization]);
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      in.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    in.body = std::move(parser_->get().body());
    beast::error_code ep_ec;
    auto ep = stream_.socket().remote_endpoint(ep_ec);
    in.from_loopback = !ep_ec && ep.address().is_loopback();
    const bool keep_alive = req.keep_alive();
    // The responder may run on another thread: it posts the write onto this session's strand.
    // Until it is gone, the work guard keeps the io_context running, so a graceful stop still
    // writes the answer of a request handled elsewhere (a prefetch fetch). What it holds of the
    // io_context (the session's stream and timer, the guard's strand executor) is released on
    // that other thread, so the server destroys its io_context only after every responder is
    // gone (~HttpServer waits for Shared::responders). Released after the io_context, the
    // session cancelled its timer, or the guard's strand unlinked itself, on a freed service
    // (ASan, PrefetchTokenTest / PrefetchFetchTest, 2026-12-05).
    auto pending =
        std::make_shared<Pending>(shared_, stream_.get_executor(), shared_from_this(), keep_alive);
    auto respond = [pending](HttpResponse out) {
      net::dispatch(pending->session->stream_.get_executor(),
                    [self = pending->session, keep_alive = pending->keep_alive,
                     out = std::move(out)] { self->Write(out, keep_alive); });
    };
    try {
      shared_->handler(std::move(in), respond);
    } catch (const std::exception&) {
      respond(HttpResponse{500, "application/json", R"({"error":"internal error"})", ""});
    }
  }

  void Write(const HttpResponse& r, bool keep_alive) {
    busy_ = true;
    res_ = {};
    res_.version(11);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "sdoh-bridge");
    res_.set(http::field::content_type, r.content_type);
    res_.set(http::field::cache_control, "no-store");
    if (!r.www_authenticate.empty()) res_.set(http::field::www_authenticate, r.www_authenticate);
    res_.body() = r.body;
    res_.keep_alive(keep_alive && !shared_->stopping);
    res_.prepare_payload();
    stream_.expires_after(shared_->options.write_timeout);
    http::async_write(
        stream_, res_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    busy_ = false;
    if (ec || !res_.keep_alive() || shared_->stopping) return DoClose();
    DoRead();
  }

  void DoClose() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.cancel();
    stream_.close();
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->sessions.erase(shared_from_this());
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool busy_ = false;
  bool closed_ = false;
};

}  // namespace

struct HttpServer::Impl {
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_pause;  // on the acceptor's strand
  std::chrono::milliseconds pause{0};
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::vector<std::thread> threads;
  std::once_flag stop_once;
  size_t max_connections = 0;
  bool refusing = false;  // at the cap: logged once per episode

  void Log(const std::string& line) {
    if (shared->options.log) shared->options.log(line);
  }

  // Out of descriptors (issue 13 #11): the pending connection stays in the backlog and accept
  // fails again at once, so retrying now would spin. Wait 50 ms, doubling to 1 s, then retry.
  void PauseAccepting(const beast::error_code& ec) {
    const bool first = pause.count() == 0;
    pause = first ? std::chrono::milliseconds(50)
                  : std::min(pause * 2, std::chrono::milliseconds(1000));
    if (first) Log("accept: " + ec.message() + "; pausing accepts (retry from 50 ms up to 1 s)");
    accept_pause->expires_after(pause);
    accept_pause->async_wait([this](beast::error_code wait_ec) {
      if (wait_ec || shared->stopping || !acceptor->is_open()) return;
      DoAccept();
    });
  }

  // Over the cap: a short 503 if the socket takes it without waiting, then close.
  void Refuse(tcp::socket& s) {
    static constexpr char kBusy[] =
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
        "Content-Length: 0\r\n\r\n";
    beast::error_code ec;
    s.non_blocking(true, ec);
    s.send(net::buffer(kBusy, sizeof kBusy - 1), 0, ec);
    s.shutdown(tcp::socket::shutdown_both, ec);
    s.close(ec);
  }

  void DoAccept() {
    acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
        const int e = ec.value();
        if (ec.category() == boost::system::system_category() &&
            (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)) {
          if (!shared->stopping) PauseAccepting(ec);
          return;
        }
      } else if (!shared->stopping) {
        if (pause.count() != 0) {
          pause = std::chrono::milliseconds(0);
          Log("accept: resumed");
        }
        size_t open = 0;
        {
          std::lock_guard<std::mutex> lock(shared->mu);
          open = shared->sessions.size();
        }
        if (open >= max_connections) {
          if (!refusing) {
            Log("connections: " + std::to_string(open) + " open, the cap (" +
                std::to_string(max_connections) + "); refusing new ones until some close");
          }
          refusing = true;
          Refuse(s);
        } else {
          refusing = false;
          auto session = std::make_shared<Session>(std::move(s), shared);
          {
            std::lock_guard<std::mutex> lock(shared->mu);
            shared->sessions.insert(session);
          }
          session->Run();
        }
      }
      if (!shared->stopping) DoAccept();
    });
  }
};

size_t DefaultMaxConnections(uint64_t soft) {
  if (soft == static_cast<uint64_t>(RLIM_INFINITY) || soft > 20000) return 10000;
  const uint64_t reserve = std::min<uint64_t>(64, soft / 2);
  return static_cast<size_t>(std::clamp<uint64_t>(soft - reserve, 1, 10000));
}

size_t DefaultMaxConnections() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1000;
  return DefaultMaxConnections(static_cast<uint64_t>(rl.rlim_cur));
}

size_t HttpServer::max_connections() const { return impl_->max_connections; }

std::string HeaderValue(const HttpRequest& request, const std::string& name) {
  for (const auto& [k, v] : request.headers) {
    if (k == name) return v;
  }
  return {};
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : HttpServer(std::move(options),
                 AsyncHttpHandler(
                     [handler = std::move(handler)](HttpRequest request, HttpResponder respond) {
                       respond(handler(request));
                     })) {}

HttpServer::HttpServer(HttpServerOptions options, AsyncHttpHandler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared->options = std::move(options);
  impl_->shared->handler = std::move(handler);
}

HttpServer::~HttpServer() {
  Stop();
  Wait();
  // A responder on another thread may still hold a session or an executor of the io_context
  // (Pending); the io_context goes with impl_ only once the last one is gone.
  std::shared_ptr<Shared> shared = impl_->shared;
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->responders_done.wait(lock, [&] { return shared->responders == 0; });
}

fhir::Status HttpServer::Start() {
  const HttpServerOptions& o = impl_->shared->options;
  std::string where = o.host + ":" + std::to_string(o.port);
  beast::error_code ec;
  auto address = net::ip::make_address(o.host, ec);
  if (ec) return fhir::Status::InvalidArgument("listen " + where + ": not an IP address");
  tcp::endpoint ep(address, o.port);
  impl_->acceptor.emplace(net::make_strand(impl_->ioc));
  impl_->acceptor->open(ep.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(ep, ec);
  if (!ec) impl_->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fhir::Status::IoError("listen " + where + ": " + ec.message());
  port_ = impl_->acceptor->local_endpoint().port();
  impl_->max_connections = o.max_connections > 0 ? o.max_connections : DefaultMaxConnections();
  impl_->accept_pause.emplace(impl_->acceptor->get_executor());
  impl_->DoAccept();
  int n = o.threads > 0 ? o.threads : 1;
  for (int i = 0; i < n; ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  return fhir::Status::Ok();
}

void HttpServer::Stop() {
  std::call_once(impl_->stop_once, [this] {
    impl_->shared->stopping = true;
    if (!impl_->acceptor) return;
    // On the acceptor's strand: the accept handler touches the acceptor too.
    net::post(impl_->acceptor->get_executor(), [this] {
      beast::error_code ec;
      impl_->acceptor->close(ec);
      if (impl_->accept_pause) impl_->accept_pause->cancel();
      std::vector<std::shared_ptr<Session>> live;
      {
        std::lock_guard<std::mutex> lock(impl_->shared->mu);
        live.assign(impl_->shared->sessions.begin(), impl_->shared->sessions.end());
      }
      for (auto& s : live) s->OnServerStop();
    });
  });
}

void HttpServer::Wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

}  // namespace sdoh::service
