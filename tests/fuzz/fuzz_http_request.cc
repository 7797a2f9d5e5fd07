// libFuzzer target: bytes a client sends to `sdoh-bridge serve` (issue 7, surface 7), in
// process and without sockets, the way plugin/service/http_server.cc's Session reads them:
//   - the bytes are a connection's stream, possibly several pipelined requests (at most 8);
//     each goes through boost::beast::http::request_parser<string_body> with the service's
//     limits (HttpServerOptions{}.body_limit, the session's 16 KiB header limit), fed in
//     uneven chunks as reads would deliver them;
//   - a body over the limit ends the connection with 413 (as the session does); any other
//     parse error ends it;
//   - each parsed request becomes a service::HttpRequest exactly as Session::OnRead builds it
//     and goes to a fresh service::ServiceApp::Handle, once with --no-auth and once with JWT
//     auth (a fixed JWKS, see test_jwks.h; /notify with a shared secret), on the default
//     pipeline loaded once;
//   - the answer is serialised as Session::Write does.
// Oracle besides sanitizers: an application/json answer must be valid UTF-8 JSON (the service
// promises JSON errors). Crashes, sanitizer reports, hangs and leaks are bugs.
//
// Build (clang only): tests/fuzz/CMakeLists.txt, or scripts/fuzz.sh.
// Run:   ./fuzz_http_request -max_total_time=600 tests/fuzz/corpus/http_request
#include <rapidjson/document.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "plugin/service/http_server.h"
#include "plugin/service/jwt_verifier.h"
#include "plugin/service/service_app.h"
#include "plugin/setup/pipeline.h"
#include "tests/fuzz/test_jwks.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr size_t kHeaderLimit = 16 * 1024;  // plugin/service/http_server.cc Session::DoRead
constexpr char kBase[] = "https://sdoh.test";
constexpr char kIssuer[] = "https://ehr.test";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz_http_request: %s\n", what.c_str());
  std::abort();
}

std::shared_ptr<const sdoh::Pipeline> LoadedPipeline() {
  static std::shared_ptr<const sdoh::Pipeline>* p = [] {
    auto loaded = sdoh::LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    if (!loaded.ok()) Die(loaded.status().message());
    return new std::shared_ptr<const sdoh::Pipeline>(
        std::make_shared<const sdoh::Pipeline>(std::move(*loaded)));
  }();
  return *p;
}

void CheckAndSerialise(const sdoh::service::HttpResponse& r, bool keep_alive) {
  if (r.content_type == "application/json") {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(r.body.data(), r.body.size());
    if (d.HasParseError()) Die("HTTP " + std::to_string(r.status) + " body is not JSON");
  }
  // As Session::Write.
  http::response<http::string_body> res;
  res.version(11);
  res.result(static_cast<http::status>(r.status));
  res.set(http::field::server, "sdoh-bridge");
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  if (!r.www_authenticate.empty()) res.set(http::field::www_authenticate, r.www_authenticate);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  std::ostringstream out;
  out << res;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  std::shared_ptr<const sdoh::Pipeline> pipeline = LoadedPipeline();
  sdoh::service::ServiceSettings open_settings;
  open_settings.public_base_url = kBase;
  open_settings.no_auth = true;
  sdoh::service::ServiceApp open_app(pipeline, open_settings);

  sdoh::service::JwtPolicy policy;
  policy.allowed_issuers = {kIssuer};
  auto verifier = sdoh::service::JwtVerifier::FromJwks(sdoh::fuzz::Jwks(), policy);
  if (!verifier.ok()) Die(verifier.status().message());
  sdoh::service::ServiceSettings auth_settings;
  auth_settings.public_base_url = kBase;
  auth_settings.verifier = *verifier;
  auth_settings.metrics_token = "metrics-token";
  auth_settings.notify_secret = "notify-secret";
  auth_settings.on_notify = [](const std::vector<std::string>&) {};
  sdoh::service::ServiceApp auth_app(pipeline, auth_settings);

  const size_t body_limit = sdoh::service::HttpServerOptions{}.body_limit;
  std::string_view stream(reinterpret_cast<const char*>(data), size);
  size_t chunk = 1 + (size % 61);  // reads arrive in pieces; vary where they split
  for (int n = 0; n < 8 && !stream.empty(); ++n) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(kHeaderLimit);
    beast::error_code ec;
    size_t offered = 0;  // bytes of `stream` handed to the parser so far
    size_t used = 0;     // bytes it consumed
    while (!parser.is_done()) {
      if (offered == stream.size()) {
        parser.put_eof(ec);  // the client closed its side
        break;
      }
      offered = std::min(stream.size(), offered + chunk);
      // Like a read buffer: everything received and not yet consumed.
      for (;;) {
        size_t took = parser.put(boost::asio::buffer(stream.data() + used, offered - used), ec);
        used += took;
        if (ec == http::error::need_more) {
          ec = {};
          break;
        }
        if (ec || parser.is_done() || took == 0) break;
      }
      if (ec) break;
      chunk = chunk * 3 % 97 + 1;
    }
    if (ec == http::error::body_limit) {
      CheckAndSerialise(sdoh::service::HttpResponse{413, "application/json",
                                                    R"({"error":"request body too large"})", ""},
                        false);
      break;
    }
    if (ec || !parser.is_done()) break;
    const auto& req = parser.get();
    sdoh::service::HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.authorization = std::string(req[http::field::authorization]);
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      in.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    in.body = req.body();
    in.from_loopback = (n % 2) == 0;
    CheckAndSerialise(open_app.Handle(in), req.keep_alive());
    CheckAndSerialise(auth_app.Handle(in), req.keep_alive());
    if (!req.keep_alive()) break;
    stream.remove_prefix(used);
  }
  return 0;
}
