#include "fhir/datetime.h"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace fhir {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

unsigned DaysInMonth(int y, int m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

std::mutex& TzMutex() {
  static std::mutex m;
  return m;
}

}  // namespace

Result<TimeZone> TimeZone::Parse(std::string_view name) {
  TimeZone tz;
  if (name.empty() || name == "UTC" || name == "Z" || name == "Etc/UTC") return tz;
  tz.name_ = std::string(name);
  if (name[0] == '+' || name[0] == '-') {
    int hh = 0, mm = 0;
    if (name.size() != 6 || name[3] != ':' || !Digits(name, 1, 2, &hh) ||
        !Digits(name, 4, 2, &mm) || hh > 14 || mm > 59) {
      return Status::InvalidArgument("time zone offset must look like +05:30, got '" +
                                     std::string(name) + "'");
    }
    tz.fixed_offset_seconds_ = (name[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return tz;
  }
  // IANA name: it must exist in the system's zoneinfo, or mktime silently falls back to UTC.
  if (name.find("..") != std::string_view::npos) {
    return Status::InvalidArgument("invalid time zone name '" + std::string(name) + "'");
  }
  std::string path = "/usr/share/zoneinfo/" + std::string(name);
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    return Status::InvalidArgument("unknown time zone '" + std::string(name) +
                                   "' (not found in /usr/share/zoneinfo; use UTC, +hh:mm or an "
                                   "IANA name)");
  }
  tz.fixed_ = false;
  return tz;
}

int64_t TimeZone::UtcOffsetSecondsAtLocal(int64_t local_seconds) const {
  if (fixed_) return fixed_offset_seconds_;
  // mktime reads TZ; the process-wide TZ is swapped under a lock and restored.
  std::lock_guard<std::mutex> lock(TzMutex());
  const char* old = std::getenv("TZ");
  std::string saved = old ? old : "";
  setenv("TZ", name_.c_str(), 1);
  tzset();
  std::time_t t = static_cast<std::time_t>(local_seconds);
  std::tm tm_local{};
  gmtime_r(&t, &tm_local);  // the wall-clock fields
  tm_local.tm_isdst = -1;
  std::time_t utc = mktime(&tm_local);
  if (old) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  return local_seconds - static_cast<int64_t>(utc);
}

std::optional<InstantMicros> ParseFhirDateTime(std::string_view s, const TimeZone& tz) {
  int year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  int64_t micros = 0;
  if (!Digits(s, 0, 4, &year)) return std::nullopt;
  size_t pos = 4;
  if (pos < s.size()) {
    if (s[pos] != '-' || !Digits(s, pos + 1, 2, &month) || month < 1 || month > 12) {
      return std::nullopt;
    }
    pos += 3;
    if (pos < s.size()) {
      if (s[pos] != '-' || !Digits(s, pos + 1, 2, &day) || day < 1 ||
          day > static_cast<int>(DaysInMonth(year, month))) {
        return std::nullopt;
      }
      pos += 3;
    }
  }
  bool has_offset = false;
  int64_t offset_seconds = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' || !Digits(s, pos + 1, 2, &hour) || s.size() < pos + 6 || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &minute) || hour > 23 || minute > 59) {
      return std::nullopt;
    }
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!Digits(s, pos + 1, 2, &second) || second > 60) return std::nullopt;
      pos += 3;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int64_t scale = 100000;
        size_t start = pos;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
          if (scale > 0) micros += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return std::nullopt;
      }
    }
    if (pos < s.size()) {
      if (s[pos] == 'Z') {
        has_offset = true;
        ++pos;
      } else if (s[pos] == '+' || s[pos] == '-') {
        int oh = 0, om = 0;
        if (s.size() < pos + 6 || s[pos + 3] != ':' || !Digits(s, pos + 1, 2, &oh) ||
            !Digits(s, pos + 4, 2, &om) || oh > 14 || om > 59) {
          return std::nullopt;
        }
        offset_seconds = (s[pos] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        has_offset = true;
        pos += 6;
      }
    }
    if (pos != s.size()) return std::nullopt;
  }
  int64_t local =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + (second == 60 ? 59 : second);
  if (!has_offset) offset_seconds = tz.UtcOffsetSecondsAtLocal(local);
  return (local - offset_seconds) * 1000000 + micros;
}

InstantMicros NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatInstantUtc(InstantMicros t) {
  int64_t secs = t >= 0 ? t / 1000000 : (t - 999999) / 1000000;
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace fhir
