#include "fhir/client/http_transport.h"

#include <cstdlib>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>

#include <curl/curl.h>
#include <openssl/rand.h>

#ifndef SDOH_BRIDGE_VERSION
#define SDOH_BRIDGE_VERSION "0.0.0"
#endif

namespace fhir::client {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

struct Exchange {
  HttpResponse response;
  size_t max_bytes = 0;
  bool too_large = false;
  BodySink* sink = nullptr;
  bool streaming = false;  // this response's body goes to `sink`
  bool sink_failed = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  size_t len = size * n;
  if (ex->streaming) {
    if (!ex->sink->Write(std::string_view(data, len))) {
      ex->sink_failed = true;
      return 0;
    }
    return len;
  }
  if (ex->response.body.size() + len > ex->max_bytes) {
    ex->too_large = true;
    return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
  }
  ex->response.body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {
    ex->response.headers.clear();  // a new (e.g. after 100 Continue) response starts
    ex->streaming = false;
    size_t sp = line.find(' ');
    int code =
        sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    if (ex->sink != nullptr && code >= 200 && code < 300) {
      if (!ex->sink->Begin()) {
        ex->sink_failed = true;
        return 0;
      }
      ex->streaming = true;
    }
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ex->response.headers.emplace_back(std::move(name), Trim(line.substr(colon + 1)));
  return len;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

ClientError::Kind KindOf(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return ClientError::Kind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return ClientError::Kind::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return ClientError::Kind::kTls;
    case CURLE_FILESIZE_EXCEEDED:
      return ClientError::Kind::kResponseTooLarge;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return ClientError::Kind::kInvalidArgument;
    default:
      return ClientError::Kind::kNetwork;  // reset, empty reply, partial body, ...
  }
}

}  // namespace

std::string_view FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

std::string_view HttpResponse::Header(std::string_view lower_name) const {
  return FindHeader(headers, lower_name);
}

std::string RandomHexId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // RAND_bytes failing means the process has no entropy source; ids must still differ.
    static std::atomic<uint64_t> counter{0};
    uint64_t v = ++counter;
    std::fill(std::begin(bytes), std::end(bytes), 0);
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(v >> (8 * i));
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

CurlTransport::CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
  GlobalInit();
  if (options_.user_agent.empty()) options_.user_agent = "sdoh-bridge/" SDOH_BRIDGE_VERSION;
}

CurlTransport::~CurlTransport() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* CurlTransport::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void CurlTransport::Release(void* handle) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(handle);
}

ClientResult<HttpResponse> CurlTransport::Send(const HttpRequest& request,
                                               std::chrono::milliseconds timeout) {
  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) {
    return ClientError::Make(ClientError::Kind::kNetwork, "curl_easy_init failed");
  }
  // Reset clears options but keeps the connection cache: keep-alive across calls.
  curl_easy_reset(curl);

  Exchange ex;
  ex.max_bytes = options_.max_response_bytes;
  ex.sink = request.sink;
  std::string request_id(FindHeader(request.headers, "X-Request-Id"));
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  if (request_id.empty()) {
    request_id = RandomHexId();
    headers = curl_slist_append(headers, ("X-Request-Id: " + request_id).c_str());
  }
  if (FindHeader(request.headers, "Expect").empty()) {
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  }

  long total_ms = static_cast<long>(std::min(timeout, options_.total_timeout).count());
  if (total_ms <= 0) total_ms = 1;
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl supports
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  // A fresh connection is never "reused", so libcurl has no silent re-send to make.
  if (request.at_most_once) curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms);
  if (request.sink == nullptr) {
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(options_.max_response_bytes));
  }
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.ca_dir.empty()) curl_easy_setopt(curl, CURLOPT_CAPATH, options_.ca_dir.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ex);
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method != "POST") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "DELETE" && request.body.empty()) {
      // no body
    } else {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  }

  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    // A failed exchange may leave the connection in an unknown state: drop the handle.
    curl_easy_cleanup(curl);
    ClientError e;
    e.kind = ex.too_large     ? ClientError::Kind::kResponseTooLarge
             : ex.sink_failed ? ClientError::Kind::kInvalidArgument  // a local write: no retry
                              : KindOf(rc);
    e.http_status = static_cast<int>(status);
    e.request_id = request_id;
    e.message = request.method + " " + request.url + ": " +
                (ex.too_large ? "response larger than " +
                                    std::to_string(options_.max_response_bytes) + " bytes"
                 : ex.sink_failed ? std::string("the body could not be stored")
                                  : std::string(curl_easy_strerror(rc)));
    return e;
  }
  Release(curl);
  ex.response.status = static_cast<int>(status);
  ex.response.request_id = request_id;
  return std::move(ex.response);
}

}  // namespace fhir::client
