#include "fhir/client/retry_policy.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "fhir/datetime.h"

namespace fhir::client {
namespace {

int MonthIndex(const char* m) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (std::strncmp(m, kMonths[i], 3) == 0 && m[3] == '\0') return i + 1;
  }
  return 0;
}

std::optional<std::chrono::system_clock::time_point> FromFields(int year, int month, int day, int h,
                                                                int mi, int s) {
  if (month < 1 || day < 1 || day > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) {
    return std::nullopt;
  }
  int64_t days =
      fhir::DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + s;
  return std::chrono::system_clock::time_point(std::chrono::seconds(secs));
}

}  // namespace

void ThreadSleeper::Sleep(std::chrono::milliseconds d) {
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

double SeededRandom::Uniform01() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
}

std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view value) {
  std::string v(value);
  char wday[16] = {0}, mon[4] = {0}, tz[4] = {0};
  int day = 0, year = 0, h = 0, mi = 0, s = 0, n = 0;
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  if (std::sscanf(v.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wday, &day, mon, &year, &h, &mi,
                  &s, tz, &n) == 8 &&
      static_cast<size_t>(n) == v.size() && std::strcmp(tz, "GMT") == 0) {
    return FromFields(year, MonthIndex(mon), day, h, mi, s);
  }
  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit year: 1970-2069)
  if (std::sscanf(v.c_str(), "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wday, &day, mon, &year,
                  &h, &mi, &s, tz, &n) == 8 &&
      static_cast<size_t>(n) == v.size() && std::strcmp(tz, "GMT") == 0) {
    return FromFields(year < 70 ? 2000 + year : 1900 + year, MonthIndex(mon), day, h, mi, s);
  }
  // asctime: Sun Nov  6 08:49:37 1994
  if (std::sscanf(v.c_str(), "%3s %3s %d %2d:%2d:%2d %4d%n", wday, mon, &day, &h, &mi, &s, &year,
                  &n) == 7 &&
      static_cast<size_t>(n) == v.size()) {
    return FromFields(year, MonthIndex(mon), day, h, mi, s);
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::string_view server_date,
    std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (value.size() > 9) return std::chrono::milliseconds(std::chrono::hours(24 * 365));
    return std::chrono::seconds(std::stoll(std::string(value)));
  }
  std::optional<std::chrono::system_clock::time_point> at = ParseHttpDate(value);
  if (!at) return std::nullopt;
  std::chrono::system_clock::time_point reference = now;
  if (std::optional<std::chrono::system_clock::time_point> d = ParseHttpDate(server_date)) {
    reference = *d;
  }
  auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(*at - reference);
  return std::max(delta, std::chrono::milliseconds(0));
}

bool IsRetryable(RequestKind kind, int status, const ClientError* error) {
  const bool unsafe = kind == RequestKind::kUnsafeCreate;
  if (error != nullptr) {
    switch (error->kind) {
      case ClientError::Kind::kConnect:
        return true;  // nothing reached the server
      case ClientError::Kind::kNetwork:
      case ClientError::Kind::kTimeout:
        return !unsafe;  // the server may have processed it
      default:
        return false;  // TLS, oversize, malformed: repeating gives the same answer
    }
  }
  switch (status) {
    case 429:
      return true;  // rejected by rate limiting: not processed
    case 502:
    case 503:
    case 504:
      return !unsafe;
    case 500:
      return kind == RequestKind::kRead;
    default:
      return false;
  }
}

RetryingTransport::RetryingTransport(std::shared_ptr<HttpTransport> transport, RetryOptions options,
                                     std::shared_ptr<Clock> clock, std::shared_ptr<Sleeper> sleeper,
                                     std::shared_ptr<Random> random)
    : transport_(std::move(transport)),
      options_(options),
      clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()),
      sleeper_(sleeper ? std::move(sleeper) : std::make_shared<ThreadSleeper>()),
      random_(random ? std::move(random) : std::make_shared<SeededRandom>(std::random_device{}())) {
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

std::chrono::milliseconds RetryingTransport::Backoff(int failed_attempt) {
  int64_t cap = options_.base_delay.count();
  for (int i = 1; i < failed_attempt && cap < options_.max_delay.count(); ++i) cap *= 2;
  cap = std::min<int64_t>(cap, options_.max_delay.count());
  auto delay = static_cast<int64_t>(random_->Uniform01() * static_cast<double>(cap + 1));
  return std::chrono::milliseconds(std::clamp<int64_t>(delay, 0, cap));
}

ClientResult<HttpResponse> RetryingTransport::Execute(
    HttpRequest request, RequestKind kind, const std::function<void(HttpRequest&)>& prepare) {
  if (FindHeader(request.headers, "X-Request-Id").empty()) {
    request.headers.emplace_back("X-Request-Id", RandomHexId());  // same id on every attempt
  }
  const std::string request_id(FindHeader(request.headers, "X-Request-Id"));
  if (kind == RequestKind::kUnsafeCreate) request.at_most_once = true;
  const auto start = clock_->Now();
  std::chrono::milliseconds waited{0};
  for (int attempt = 1;; ++attempt) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now() - start);
    std::chrono::milliseconds remaining = options_.deadline - elapsed;
    ++stats_.attempts;
    if (attempt > 1 && prepare) prepare(request);
    ClientResult<HttpResponse> result = transport_->Send(request, remaining);
    const ClientError* error = result.ok() ? nullptr : &result.error();
    int status = result.ok() ? result->status : 0;
    if (status == 429) ++stats_.throttled;
    bool retryable = IsRetryable(kind, status, error);
    auto finish = [&](ClientResult<HttpResponse> r, std::string why) -> ClientResult<HttpResponse> {
      if (r.ok()) {
        r->attempts = attempt;
        r->request_id = request_id;
        return r;
      }
      ClientError e = r.error();
      e.attempts = attempt;
      e.request_id = request_id;
      if (!why.empty()) e.message += " (" + why + ")";
      return e;
    };
    if (!retryable) return finish(std::move(result), "");
    if (attempt >= options_.max_attempts) {
      return finish(std::move(result), attempt > 1 ? "retries exhausted" : "");
    }
    std::chrono::milliseconds delay = Backoff(attempt);
    if (result.ok()) {
      std::string_view retry_after = result->Header("retry-after");
      if (!retry_after.empty()) {
        if (auto ra = ParseRetryAfter(retry_after, result->Header("date"), clock_->WallNow())) {
          delay = *ra;  // the server said when; jitter would only make it early or late
        }
      }
    }
    elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now() - start);
    if (waited + delay > options_.budget) {
      return finish(std::move(result),
                    "retry budget exhausted: next wait " + std::to_string(delay.count()) + " ms");
    }
    if (elapsed + delay >= options_.deadline) {
      return finish(std::move(result),
                    "call deadline reached: next wait " + std::to_string(delay.count()) + " ms");
    }
    ++stats_.retries;
    sleeper_->Sleep(delay);
    waited += delay;
  }
}

}  // namespace fhir::client
