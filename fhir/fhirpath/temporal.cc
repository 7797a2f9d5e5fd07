#include "fhir/fhirpath/temporal.h"

#include <cstdio>

namespace fhir::fhirpath {
namespace {

bool ReadDigits(std::string_view s, size_t* i, int n, int* out) {
  if (*i + n > s.size()) return false;
  int v = 0;
  for (int k = 0; k < n; ++k) {
    char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

// Reads "hh[:mm[:ss[.fff]]]" into t; returns false on bad syntax.
bool ReadTimeOfDay(std::string_view s, size_t* i, Temporal* t) {
  int v;
  if (!ReadDigits(s, i, 2, &v) || v > 23) return false;
  t->hour = static_cast<int8_t>(v);
  t->precision = kHour;
  if (*i < s.size() && s[*i] == ':') {
    ++*i;
    if (!ReadDigits(s, i, 2, &v) || v > 59) return false;
    t->minute = static_cast<int8_t>(v);
    t->precision = kMinute;
    if (*i < s.size() && s[*i] == ':') {
      ++*i;
      if (!ReadDigits(s, i, 2, &v) || v > 59) return false;
      t->second = static_cast<int8_t>(v);
      t->precision = kSecond;
      if (*i < s.size() && s[*i] == '.') {
        ++*i;
        size_t start = *i;
        int ms = 0, n = 0;
        while (*i < s.size() && s[*i] >= '0' && s[*i] <= '9') {
          if (n < 3) ms = ms * 10 + (s[*i] - '0');
          ++n;
          ++*i;
        }
        if (*i == start) return false;
        for (; n < 3; ++n) ms *= 10;
        t->millisecond = static_cast<int16_t>(ms);
        t->precision = kMillisecond;
      }
    }
  }
  return true;
}

int64_t LocalMinutes(const Temporal& t) {
  return DaysFromCivil(t.year, t.month, t.day) * 1440 + t.hour * 60 + t.minute;
}

void SetLocalMinutes(Temporal* t, int64_t minutes) {
  int64_t days = minutes >= 0 ? minutes / 1440 : -((-minutes + 1439) / 1440);
  int64_t rem = minutes - days * 1440;
  CivilFromDays(days, &t->year, &t->month, &t->day);
  t->hour = static_cast<int8_t>(rem / 60);
  t->minute = static_cast<int8_t>(rem % 60);
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int32_t* y, int8_t* m, int8_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned dd = doy - (153 * mp + 2) / 5 + 1;
  const unsigned mm = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int32_t>(yy + (mm <= 2));
  *m = static_cast<int8_t>(mm);
  *d = static_cast<int8_t>(dd);
}

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[(month - 1) % 12];
}

std::optional<Temporal> Temporal::Parse(std::string_view s, TemporalKind kind) {
  Temporal t;
  t.kind = kind;
  size_t i = 0;
  int v;
  if (kind == TemporalKind::kTime) {
    if (!ReadTimeOfDay(s, &i, &t) || i != s.size()) return std::nullopt;
    return t;
  }
  if (!ReadDigits(s, &i, 4, &v)) return std::nullopt;
  t.year = v;
  t.precision = kYear;
  if (i < s.size() && s[i] == '-') {
    ++i;
    if (!ReadDigits(s, &i, 2, &v) || v < 1 || v > 12) return std::nullopt;
    t.month = static_cast<int8_t>(v);
    t.precision = kMonth;
    if (i < s.size() && s[i] == '-') {
      ++i;
      if (!ReadDigits(s, &i, 2, &v) || v < 1 || v > DaysInMonth(t.year, t.month)) {
        return std::nullopt;
      }
      t.day = static_cast<int8_t>(v);
      t.precision = kDay;
    }
  }
  if (kind == TemporalKind::kDate) {
    if (i != s.size()) return std::nullopt;
    return t;
  }
  if (i < s.size() && s[i] == 'T') {
    ++i;
    if (i == s.size()) return t;  // "2015T"
    if (t.precision != kDay) return std::nullopt;
    if (!ReadTimeOfDay(s, &i, &t)) return std::nullopt;
  }
  if (i < s.size()) {
    if (t.precision < kHour && t.precision != kDay) return std::nullopt;
    if (s[i] == 'Z') {
      t.has_tz = true;
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      bool neg = s[i] == '-';
      ++i;
      int hh, mm;
      if (!ReadDigits(s, &i, 2, &hh) || i >= s.size() || s[i] != ':') return std::nullopt;
      ++i;
      if (!ReadDigits(s, &i, 2, &mm) || hh > 14 || mm > 59) return std::nullopt;
      t.has_tz = true;
      t.tz_minutes = static_cast<int16_t>((neg ? -1 : 1) * (hh * 60 + mm));
    }
  }
  if (i != s.size()) return std::nullopt;
  return t;
}

std::string Temporal::ToString() const {
  char buf[64];
  std::string out;
  if (kind != TemporalKind::kTime) {
    std::snprintf(buf, sizeof buf, "%04d", static_cast<int>(year));
    out += buf;
    if (precision >= kMonth) {
      std::snprintf(buf, sizeof buf, "-%02d", month);
      out += buf;
    }
    if (precision >= kDay) {
      std::snprintf(buf, sizeof buf, "-%02d", day);
      out += buf;
    }
    if (kind == TemporalKind::kDate) return out;
    if (precision < kHour) {
      if (precision < kDay) out += "T";
      return out;
    }
    out += "T";
  }
  std::snprintf(buf, sizeof buf, "%02d", hour);
  out += buf;
  if (precision >= kMinute) {
    std::snprintf(buf, sizeof buf, ":%02d", minute);
    out += buf;
  }
  if (precision >= kSecond) {
    std::snprintf(buf, sizeof buf, ":%02d", second);
    out += buf;
  }
  if (precision >= kMillisecond) {
    std::snprintf(buf, sizeof buf, ".%03d", millisecond);
    out += buf;
  }
  if (has_tz && kind == TemporalKind::kDateTime) {
    if (tz_minutes == 0) {
      out += "Z";
    } else {
      int m = tz_minutes < 0 ? -tz_minutes : tz_minutes;
      std::snprintf(buf, sizeof buf, "%c%02d:%02d", tz_minutes < 0 ? '-' : '+', m / 60, m % 60);
      out += buf;
    }
  }
  return out;
}

int Temporal::PrecisionDigits() const {
  if (kind == TemporalKind::kTime) {
    static const int kTime[] = {0, 0, 0, 0, 2, 4, 6, 9};
    return kTime[precision];
  }
  static const int kDateTime[] = {0, 4, 6, 8, 10, 12, 14, 17};
  return kDateTime[precision];
}

std::optional<Temporal> Temporal::Boundary(int digits, bool high) const {
  int target;
  if (kind == TemporalKind::kTime) {
    switch (digits) {
      case 2:
        target = kHour;
        break;
      case 4:
        target = kMinute;
        break;
      case 6:
        target = kSecond;
        break;
      case 9:
        target = kMillisecond;
        break;
      default:
        return std::nullopt;
    }
  } else {
    switch (digits) {
      case 4:
        target = kYear;
        break;
      case 6:
        target = kMonth;
        break;
      case 8:
        target = kDay;
        break;
      case 10:
        target = kHour;
        break;
      case 12:
        target = kMinute;
        break;
      case 14:
        target = kSecond;
        break;
      case 17:
        target = kMillisecond;
        break;
      default:
        return std::nullopt;
    }
    if (kind == TemporalKind::kDate && target > kDay) return std::nullopt;
  }
  Temporal r = *this;
  // A DateTime/Time written to the hour is read as hh:00 (the suite's reading of "T08").
  int known = precision == kHour ? static_cast<int>(kMinute) : static_cast<int>(precision);
  if (known < kMonth) r.month = high ? 12 : 1;
  if (known < kDay) r.day = high ? static_cast<int8_t>(DaysInMonth(r.year, r.month)) : 1;
  if (known < kHour) r.hour = high ? 23 : 0;
  if (known < kMinute) r.minute = high ? 59 : 0;
  if (known < kSecond) r.second = high ? 59 : 0;
  if (known < kMillisecond) r.millisecond = high ? 999 : 0;
  r.precision = static_cast<uint8_t>(target);
  if (kind == TemporalKind::kDateTime && target >= kHour && !has_tz) {
    r.has_tz = true;
    r.tz_minutes = high ? -12 * 60 : 14 * 60;
  }
  if (kind == TemporalKind::kDateTime && target < kHour) r.has_tz = false;
  return r;
}

std::optional<Temporal> Temporal::Add(int64_t amount, std::string_view unit) const {
  Temporal r = *this;
  if (amount > 100000000 || amount < -100000000) return std::nullopt;
  if (unit == "year" || unit == "month") {
    if (kind == TemporalKind::kTime) return std::nullopt;
    int64_t months =
        static_cast<int64_t>(r.year) * 12 + (r.month - 1) + (unit == "year" ? amount * 12 : amount);
    int64_t y = months >= 0 ? months / 12 : -((-months + 11) / 12);
    r.year = static_cast<int32_t>(y);
    r.month = static_cast<int8_t>(months - y * 12 + 1);
    if (r.day > DaysInMonth(r.year, r.month))
      r.day = static_cast<int8_t>(DaysInMonth(r.year, r.month));
  } else if (unit == "week" || unit == "day") {
    if (kind == TemporalKind::kTime) return std::nullopt;
    int64_t days = DaysFromCivil(r.year, r.month, r.day) + (unit == "week" ? amount * 7 : amount);
    CivilFromDays(days, &r.year, &r.month, &r.day);
  } else {
    int64_t ms;
    if (unit == "hour") {
      ms = amount * 3600000;
    } else if (unit == "minute") {
      ms = amount * 60000;
    } else if (unit == "second") {
      ms = amount * 1000;
    } else if (unit == "millisecond") {
      ms = amount;
    } else {
      return std::nullopt;
    }
    if (kind == TemporalKind::kDate) {
      int64_t days = ms / 86400000;
      int64_t d = DaysFromCivil(r.year, r.month, r.day) + days;
      CivilFromDays(d, &r.year, &r.month, &r.day);
      return r;
    }
    int64_t base =
        (kind == TemporalKind::kTime ? 0 : DaysFromCivil(r.year, r.month, r.day)) * 86400000 +
        static_cast<int64_t>(r.hour) * 3600000 + r.minute * 60000 + r.second * 1000 + r.millisecond;
    int64_t total = base + ms;
    int64_t days = total >= 0 ? total / 86400000 : -((-total + 86399999) / 86400000);
    int64_t rem = total - days * 86400000;
    if (kind != TemporalKind::kTime) CivilFromDays(days, &r.year, &r.month, &r.day);
    r.hour = static_cast<int8_t>(rem / 3600000);
    r.minute = static_cast<int8_t>(rem / 60000 % 60);
    r.second = static_cast<int8_t>(rem / 1000 % 60);
    r.millisecond = static_cast<int16_t>(rem % 1000);
  }
  if (r.year < 1 || r.year > 9999) return std::nullopt;
  return r;
}

Temporal Temporal::WithOffset(int minutes) const {
  Temporal r = *this;
  if (kind != TemporalKind::kDateTime || !has_tz) return r;
  SetLocalMinutes(&r, LocalMinutes(r) - tz_minutes + minutes);
  r.tz_minutes = static_cast<int16_t>(minutes);
  return r;
}

Order CompareTemporal(const Temporal& a0, const Temporal& b0, std::optional<int> local_offset) {
  bool a_time = a0.kind == TemporalKind::kTime, b_time = b0.kind == TemporalKind::kTime;
  if (a_time != b_time) return Order::kIncomparable;
  Temporal a = a0, b = b0;
  if (!a_time && a.precision >= kHour && b.precision >= kHour) {
    if (a.has_tz != b.has_tz) {
      if (!local_offset) return Order::kUnknown;
      if (!a.has_tz) {
        a.has_tz = true;
        a.tz_minutes = static_cast<int16_t>(*local_offset);
      } else {
        b.has_tz = true;
        b.tz_minutes = static_cast<int16_t>(*local_offset);
      }
    }
    if (a.has_tz) {
      a = a.WithOffset(0);
      b = b.WithOffset(0);
    }
  }
  auto prec = [](const Temporal& t) {
    return t.precision == kMillisecond ? static_cast<int>(kSecond) : static_cast<int>(t.precision);
  };
  int pa = prec(a), pb = prec(b);
  int common = pa < pb ? pa : pb;
  auto cmp = [](int64_t x, int64_t y) { return x < y ? Order::kLess : Order::kGreater; };
  int start = a_time ? kHour : kYear;
  for (int p = start; p <= common; ++p) {
    int64_t x = 0, y = 0;
    switch (p) {
      case kYear:
        x = a.year;
        y = b.year;
        break;
      case kMonth:
        x = a.month;
        y = b.month;
        break;
      case kDay:
        x = a.day;
        y = b.day;
        break;
      case kHour:
        x = a.hour;
        y = b.hour;
        break;
      case kMinute:
        x = a.minute;
        y = b.minute;
        break;
      default:
        x = a.second * 1000 + (a.precision == kMillisecond ? a.millisecond : 0);
        y = b.second * 1000 + (b.precision == kMillisecond ? b.millisecond : 0);
        break;
    }
    if (x != y) return cmp(x, y);
  }
  return pa == pb ? Order::kEqual : Order::kUnknown;
}

}  // namespace fhir::fhirpath
