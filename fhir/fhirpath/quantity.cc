#include "fhir/fhirpath/quantity.h"

#include <cstring>

namespace fhir::fhirpath {
namespace {

struct Atom {
  const char* code;
  const char* factor;
  std::array<int, 8> dims;
  bool metric;  // accepts SI prefixes
};

// Dimensions: m, g, s, mol, K, A, cd, calendar-month.
const Atom kAtoms[] = {
    {"m", "1", {1, 0, 0, 0, 0, 0, 0, 0}, true},
    {"g", "1", {0, 1, 0, 0, 0, 0, 0, 0}, true},
    {"s", "1", {0, 0, 1, 0, 0, 0, 0, 0}, true},
    {"mol", "1", {0, 0, 0, 1, 0, 0, 0, 0}, true},
    {"K", "1", {0, 0, 0, 0, 1, 0, 0, 0}, true},
    {"Cel", "1", {0, 0, 0, 0, 1, 0, 0, 0}, true},
    {"A", "1", {0, 0, 0, 0, 0, 1, 0, 0}, true},
    {"cd", "1", {0, 0, 0, 0, 0, 0, 1, 0}, true},
    {"L", "0.001", {3, 0, 0, 0, 0, 0, 0, 0}, true},
    {"l", "0.001", {3, 0, 0, 0, 0, 0, 0, 0}, true},
    {"min", "60", {0, 0, 1, 0, 0, 0, 0, 0}, false},
    {"h", "3600", {0, 0, 1, 0, 0, 0, 0, 0}, false},
    {"d", "86400", {0, 0, 1, 0, 0, 0, 0, 0}, false},
    {"wk", "604800", {0, 0, 1, 0, 0, 0, 0, 0}, false},
    {"mo", "2629800", {0, 0, 1, 0, 0, 0, 0, 0}, false},
    {"a", "31557600", {0, 0, 1, 0, 0, 0, 0, 0}, false},
    {"Pa", "1000", {-1, 1, -2, 0, 0, 0, 0, 0}, true},
    {"bar", "100000000", {-1, 1, -2, 0, 0, 0, 0, 0}, true},
    {"mm[Hg]", "133322.387415", {-1, 1, -2, 0, 0, 0, 0, 0}, false},
    {"[lb_av]", "453.59237", {0, 1, 0, 0, 0, 0, 0, 0}, false},
    {"[oz_av]", "28.349523125", {0, 1, 0, 0, 0, 0, 0, 0}, false},
    {"[in_i]", "0.0254", {1, 0, 0, 0, 0, 0, 0, 0}, false},
    {"[ft_i]", "0.3048", {1, 0, 0, 0, 0, 0, 0, 0}, false},
    {"[mi_i]", "1609.344", {1, 0, 0, 0, 0, 0, 0, 0}, false},
    {"%", "0.01", {0, 0, 0, 0, 0, 0, 0, 0}, false},
    {"1", "1", {0, 0, 0, 0, 0, 0, 0, 0}, false},
    {"Hz", "1", {0, 0, -1, 0, 0, 0, 0, 0}, true},
    {"J", "1000", {2, 1, -2, 0, 0, 0, 0, 0}, true},
    {"cal", "4184", {2, 1, -2, 0, 0, 0, 0, 0}, true},
    {"[Cal]", "4184000", {2, 1, -2, 0, 0, 0, 0, 0}, false},
    {"N", "1000", {1, 1, -2, 0, 0, 0, 0, 0}, true},
    {"W", "1000", {2, 1, -3, 0, 0, 0, 0, 0}, true},
};

struct Prefix {
  const char* code;
  const char* factor;
};
const Prefix kPrefixes[] = {{"da", "10"},         {"k", "1000"},          {"M", "1000000"},
                            {"G", "1000000000"},  {"h", "100"},           {"d", "0.1"},
                            {"c", "0.01"},        {"m", "0.001"},         {"u", "0.000001"},
                            {"n", "0.000000001"}, {"p", "0.000000000001"}};

Decimal D(const char* s) { return *Decimal::Parse(s); }

std::optional<UnitInfo> AtomInfo(std::string_view sym) {
  for (const Atom& a : kAtoms) {
    if (sym == a.code) return UnitInfo{D(a.factor), a.dims};
  }
  for (const Prefix& p : kPrefixes) {
    size_t n = std::strlen(p.code);
    if (sym.size() > n && sym.substr(0, n) == p.code) {
      std::string_view rest = sym.substr(n);
      for (const Atom& a : kAtoms) {
        if (a.metric && rest == a.code) {
          auto f = Decimal::Mul(D(p.factor), D(a.factor));
          if (!f) return std::nullopt;
          return UnitInfo{*f, a.dims};
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<UnitInfo> Power(UnitInfo u, int exp) {
  UnitInfo r;
  int n = exp < 0 ? -exp : exp;
  for (int i = 0; i < n; ++i) {
    auto f = Decimal::Mul(r.factor, u.factor);
    if (!f) return std::nullopt;
    r.factor = *f;
  }
  if (exp < 0) {
    auto f = Decimal::Div(Decimal::FromInt(1), r.factor);
    if (!f) return std::nullopt;
    r.factor = *f;
  }
  for (size_t d = 0; d < r.dims.size(); ++d) r.dims[d] = u.dims[d] * exp;
  return r;
}

std::optional<UnitInfo> Combine(const UnitInfo& a, const UnitInfo& b, bool divide) {
  UnitInfo r;
  auto f = divide ? Decimal::Div(a.factor, b.factor) : Decimal::Mul(a.factor, b.factor);
  if (!f) return std::nullopt;
  r.factor = *f;
  for (size_t d = 0; d < r.dims.size(); ++d)
    r.dims[d] = a.dims[d] + (divide ? -b.dims[d] : b.dims[d]);
  return r;
}

class UcumParser {
 public:
  explicit UcumParser(std::string_view s) : s_(s) {}
  std::optional<UnitInfo> Parse() {
    auto r = Term(0);
    if (!r || i_ != s_.size()) return std::nullopt;
    return r;
  }

 private:
  std::optional<UnitInfo> Term(int depth) {
    if (depth > 8) return std::nullopt;
    std::optional<UnitInfo> acc;
    if (i_ < s_.size() && s_[i_] == '/') {
      ++i_;
      auto c = Component(depth);
      if (!c) return std::nullopt;
      return Combine(UnitInfo{}, *c, true);
    }
    acc = Component(depth);
    while (acc && i_ < s_.size() && (s_[i_] == '.' || s_[i_] == '/')) {
      bool divide = s_[i_++] == '/';
      auto c = Component(depth);
      if (!c) return std::nullopt;
      acc = Combine(*acc, *c, divide);
    }
    return acc;
  }
  std::optional<UnitInfo> Component(int depth) {
    if (i_ < s_.size() && s_[i_] == '(') {
      ++i_;
      auto t = Term(depth + 1);
      if (!t || i_ >= s_.size() || s_[i_] != ')') return std::nullopt;
      ++i_;
      return t;
    }
    if (i_ < s_.size() && s_[i_] == '{') {  // annotation alone means unity
      while (i_ < s_.size() && s_[i_] != '}') ++i_;
      if (i_ >= s_.size()) return std::nullopt;
      ++i_;
      return UnitInfo{};
    }
    size_t start = i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '[') {
        while (i_ < s_.size() && s_[i_] != ']') ++i_;
        if (i_ >= s_.size()) return std::nullopt;
        ++i_;
        continue;
      }
      if (c == '.' || c == '/' || c == '(' || c == ')' || c == '{' || c == '-' || c == '+' ||
          (c >= '0' && c <= '9' && i_ > start))
        break;
      ++i_;
    }
    std::string_view sym = s_.substr(start, i_ - start);
    if (sym.empty() && i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      // Pure number such as "1" or "10".
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      sym = s_.substr(start, i_ - start);
      if (sym == "1") return UnitInfo{};
      auto d = Decimal::Parse(sym);
      if (!d) return std::nullopt;
      UnitInfo u;
      u.factor = *d;
      return u;
    }
    auto info = AtomInfo(sym);
    if (!info) return std::nullopt;
    // Exponent.
    size_t es = i_;
    if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) ++i_;
    size_t ds = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ > ds) {
      int e = 0;
      for (size_t k = ds; k < i_ && k < ds + 2; ++k) e = e * 10 + (s_[k] - '0');
      if (s_[es] == '-') e = -e;
      if (i_ - ds > 2) return std::nullopt;
      return Power(*info, e);
    }
    i_ = es;
    if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) return std::nullopt;
    return info;
  }
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::string Quantity::ToString() const {
  if (calendar) return value.ToString() + " " + unit;
  return value.ToString() + " '" + unit + "'";
}

std::string_view CalendarWordSingular(std::string_view w) {
  static const char* kWords[] = {"year", "month",  "week",   "day",
                                 "hour", "minute", "second", "millisecond"};
  for (const char* k : kWords) {
    std::string_view kv(k);
    if (w == kv) return kv;
    if (w.size() == kv.size() + 1 && w.substr(0, kv.size()) == kv && w.back() == 's') return kv;
  }
  return {};
}

std::optional<UnitInfo> ParseUcum(std::string_view unit) {
  if (unit.empty() || unit.size() > 64) return std::nullopt;
  return UcumParser(unit).Parse();
}

std::optional<UnitInfo> UnitOf(const Quantity& q) {
  if (q.calendar) {
    std::string_view w = CalendarWordSingular(q.unit);
    if (w == "year") return UnitInfo{Decimal::FromInt(12), {0, 0, 0, 0, 0, 0, 0, 1}};
    if (w == "month") return UnitInfo{Decimal::FromInt(1), {0, 0, 0, 0, 0, 0, 0, 1}};
    if (w == "week") return ParseUcum("wk");
    if (w == "day") return ParseUcum("d");
    if (w == "hour") return ParseUcum("h");
    if (w == "minute") return ParseUcum("min");
    if (w == "second") return ParseUcum("s");
    if (w == "millisecond") return ParseUcum("ms");
    return std::nullopt;
  }
  return ParseUcum(q.unit);
}

std::optional<Decimal> ConvertTo(const Quantity& from, const Quantity& to) {
  if (from.unit == to.unit && from.calendar == to.calendar) return from.value;
  auto a = UnitOf(from), b = UnitOf(to);
  if (!a || !b || a->dims != b->dims) return std::nullopt;
  auto base = Decimal::Mul(from.value, a->factor);
  if (!base) return std::nullopt;
  auto r = Decimal::Div(*base, b->factor);
  if (!r) return std::nullopt;
  // Keep at least the precision of the input (Div strips trailing zeros).
  int s = std::max(r->scale(), from.value.scale());
  return r->Rescale(s);
}

std::string_view DateArithmeticUnit(const Quantity& q) {
  std::string_view w = CalendarWordSingular(q.unit);
  if (!w.empty()) return w;
  if (q.calendar) return {};
  if (q.unit == "wk") return "week";
  if (q.unit == "d") return "day";
  if (q.unit == "h") return "hour";
  if (q.unit == "min") return "minute";
  if (q.unit == "s") return "second";
  if (q.unit == "ms") return "millisecond";
  return {};
}

}  // namespace fhir::fhirpath
