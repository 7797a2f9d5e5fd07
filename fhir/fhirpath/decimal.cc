#include "fhir/fhirpath/decimal.h"

#include <cmath>
#include <cstdio>

namespace fhir::fhirpath {
namespace {

bool MulOverflow(__int128 a, __int128 b, __int128* out) {
  return __builtin_mul_overflow(a, b, out);
}
bool AddOverflow(__int128 a, __int128 b, __int128* out) {
  return __builtin_add_overflow(a, b, out);
}

std::optional<__int128> Pow10(int n) {
  if (n < 0 || n > 38) return std::nullopt;
  __int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

// Divides by 10^n rounding half away from zero.
__int128 DivRoundHalfAway(__int128 v, __int128 d) {
  if (d < 0) {
    d = -d;
    v = -v;
  }
  __int128 q = v / d;
  __int128 r = v % d;
  if (r < 0) r = -r;
  if (r * 2 >= d) q += (v < 0 ? -1 : 1);
  return q;
}

}  // namespace

std::optional<Decimal> Decimal::Parse(std::string_view text) {
  size_t i = 0;
  bool neg = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    neg = text[i] == '-';
    ++i;
  }
  __int128 units = 0;
  int scale = 0;
  bool any = false, point = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      any = true;
      if (MulOverflow(units, 10, &units) || AddOverflow(units, c - '0', &units))
        return std::nullopt;
      if (point) ++scale;
      if (scale > kMaxScale + 10) return std::nullopt;
    } else if (c == '.' && !point) {
      point = true;
      if (i + 1 >= text.size() || text[i + 1] < '0' || text[i + 1] > '9') return std::nullopt;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return std::nullopt;
    ++i;
    bool eneg = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) eneg = text[i++] == '-';
    int exp = 0;
    bool edig = false;
    for (; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      edig = true;
      exp = exp * 10 + (text[i] - '0');
      if (exp > 60) return std::nullopt;
    }
    if (!edig) return std::nullopt;
    scale += eneg ? exp : -exp;
    if (scale < 0) {
      auto p = Pow10(-scale);
      if (!p || MulOverflow(units, *p, &units)) return std::nullopt;
      scale = 0;
    }
  }
  Decimal d(neg ? -units : units, scale);
  if (scale > kMaxScale) return d.Rescale(kMaxScale);
  return d;
}

std::optional<Decimal> Decimal::FromDouble(double v) {
  if (!std::isfinite(v)) return std::nullopt;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  auto d = Parse(buf);
  if (!d) return std::nullopt;
  return d->Normalized();
}

double Decimal::ToDouble() const {
  return static_cast<double>(static_cast<long double>(units_) / std::pow(10.0L, scale_));
}

std::string Decimal::ToString() const {
  __int128 v = units_;
  bool neg = v < 0;
  std::string digits;
  // Avoid negating INT128_MIN: work digit by digit on the negative value.
  if (v == 0) digits = "0";
  while (v != 0) {
    int d = static_cast<int>(v % 10);
    if (d < 0) d = -d;
    digits.push_back(static_cast<char>('0' + d));
    v /= 10;
  }
  while (static_cast<int>(digits.size()) <= scale_) digits.push_back('0');
  std::string out;
  if (neg) out.push_back('-');
  for (size_t i = digits.size(); i-- > 0;) {
    out.push_back(digits[i]);
    if (i == static_cast<size_t>(scale_) && scale_ > 0) out.push_back('.');
  }
  return out;
}

std::optional<Decimal> Decimal::Rescale(int scale) const {
  if (scale < 0) scale = 0;
  if (scale == scale_) return *this;
  if (scale > scale_) {
    auto p = Pow10(scale - scale_);
    __int128 u;
    if (!p || MulOverflow(units_, *p, &u)) return std::nullopt;
    return Decimal(u, scale);
  }
  auto p = Pow10(scale_ - scale);
  if (!p) return Decimal(0, scale);
  return Decimal(DivRoundHalfAway(units_, *p), scale);
}

Decimal Decimal::Normalized() const {
  Decimal d = *this;
  while (d.scale_ > 0 && d.units_ % 10 == 0) {
    d.units_ /= 10;
    --d.scale_;
  }
  return d;
}

std::optional<Decimal> Decimal::Truncate(int scale) const {
  if (scale < 0) scale = 0;
  if (scale >= scale_) return Rescale(scale);
  auto p = Pow10(scale_ - scale);
  if (!p) return Decimal(0, scale);
  return Decimal(units_ / *p, scale);
}

std::optional<Decimal> Decimal::Floor(int scale) const {
  if (scale < 0) scale = 0;
  if (scale >= scale_) return Rescale(scale);
  auto p = Pow10(scale_ - scale);
  if (!p) return Decimal(units_ < 0 ? -1 : 0, scale);
  __int128 q = units_ / *p;
  if (units_ % *p != 0 && units_ < 0) --q;
  return Decimal(q, scale);
}

std::optional<Decimal> Decimal::Ceil(int scale) const {
  if (scale < 0) scale = 0;
  if (scale >= scale_) return Rescale(scale);
  auto p = Pow10(scale_ - scale);
  if (!p) return Decimal(units_ > 0 ? 1 : 0, scale);
  __int128 q = units_ / *p;
  if (units_ % *p != 0 && units_ > 0) ++q;
  return Decimal(q, scale);
}

std::optional<int> Decimal::Compare(const Decimal& a, const Decimal& b) {
  int s = std::max(a.scale_, b.scale_);
  auto x = a.Rescale(s), y = b.Rescale(s);
  if (!x || !y) {
    double da = a.ToDouble(), db = b.ToDouble();
    return da < db ? -1 : (da > db ? 1 : 0);
  }
  return x->units_ < y->units_ ? -1 : (x->units_ > y->units_ ? 1 : 0);
}

std::optional<Decimal> Decimal::Add(const Decimal& a, const Decimal& b) {
  int s = std::max(a.scale_, b.scale_);
  auto x = a.Rescale(s), y = b.Rescale(s);
  __int128 u;
  if (!x || !y || AddOverflow(x->units_, y->units_, &u)) return std::nullopt;
  return Decimal(u, s);
}

std::optional<Decimal> Decimal::Negate(const Decimal& a) {
  __int128 u;
  if (__builtin_sub_overflow(static_cast<__int128>(0), a.units_, &u)) return std::nullopt;
  return Decimal(u, a.scale_);
}

std::optional<Decimal> Decimal::Sub(const Decimal& a, const Decimal& b) {
  auto nb = Negate(b);
  if (!nb) return std::nullopt;
  return Add(a, *nb);
}

std::optional<Decimal> Decimal::Mul(const Decimal& a, const Decimal& b) {
  __int128 u;
  if (MulOverflow(a.units_, b.units_, &u)) {
    // Retry with reduced precision.
    auto x = a.Normalized(), y = b.Normalized();
    if (MulOverflow(x.units_, y.units_, &u)) return std::nullopt;
    Decimal r(u, x.scale_ + y.scale_);
    return r.scale_ > kMaxScale ? r.Rescale(kMaxScale) : std::optional<Decimal>(r);
  }
  Decimal r(u, a.scale_ + b.scale_);
  if (r.scale_ > kMaxScale) return r.Rescale(kMaxScale);
  return r;
}

std::optional<Decimal> Decimal::Div(const Decimal& a, const Decimal& b) {
  if (b.units_ == 0) return std::nullopt;
  // result = (a.u * 10^(k + b.s - a.s)) / b.u with k fraction digits.
  for (int k = 16; k >= 0; k -= 4) {
    int shift = k + b.scale_ - a.scale_;
    __int128 num = a.units_;
    __int128 den = b.units_;
    if (shift >= 0) {
      auto p = Pow10(shift);
      if (!p || MulOverflow(num, *p, &num)) continue;
    } else {
      auto p = Pow10(-shift);
      if (!p || MulOverflow(den, *p, &den)) continue;
    }
    return Decimal(DivRoundHalfAway(num, den), k).Normalized();
  }
  return std::nullopt;
}

}  // namespace fhir::fhirpath
