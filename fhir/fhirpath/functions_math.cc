// Numbers and quantities: math (FHIRPath §5.7), lowBoundary()/highBoundary(), precision()
// and comparable() (2.1). Boundaries and precision of dates and times are here too.
#include <cmath>

#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/operations.h"
#include "fhir/fhirpath/quantity.h"

namespace fhir::fhirpath::internal {
namespace {

// The single numeric input of a math function (abs() also takes a Quantity); nullptr for
// empty input.
const Item* MathInput(FunctionCall& c) {
  const Item* i = c.SingleInput(c.node.name.c_str());
  if (i && !IsNumeric(*i) && !(c.fn == kAbs && i->kind() == ValueKind::kQuantity)) {
    Fail(c.node.name + "() expects a number");
  }
  return i;
}

Collection FromDouble(double d) {
  auto r = Decimal::FromDouble(d);
  if (!r) return {};
  return One(Item::Dec(*r));
}

Collection Abs(FunctionCall& c) {
  const Item* i = MathInput(c);
  if (!i) return {};
  if (i->kind() == ValueKind::kInteger) {
    if (i->integer() == INT64_MIN) return {};
    return One(Item::Integer(i->integer() < 0 ? -i->integer() : i->integer()));
  }
  if (i->kind() == ValueKind::kQuantity) {
    Quantity q = i->quantity();
    if (q.value.IsNegative()) q.value = *Decimal::Negate(q.value);
    return One(Item::Qty(q));
  }
  Decimal d = i->decimal();
  if (d.IsNegative()) d = *Decimal::Negate(d);
  return One(Item::Dec(d));
}

// ceiling(), floor(), truncate(): an Integer.
Collection ToWhole(FunctionCall& c) {
  const Item* i = MathInput(c);
  if (!i) return {};
  if (i->kind() == ValueKind::kInteger) return One(*i);
  auto d = c.fn == kCeiling ? i->decimal().Ceil(0)
           : c.fn == kFloor ? i->decimal().Floor(0)
                            : i->decimal().Truncate(0);
  if (!d || d->units() > INT64_MAX || d->units() < INT64_MIN) return {};
  return One(Item::Integer(static_cast<int64_t>(d->units())));
}

Collection Round(FunctionCall& c) {
  const Item* i = MathInput(c);
  if (!i) return {};
  int64_t p = 0;
  if (!c.node.args.empty()) {
    auto a = c.ArgInteger(0);
    if (!a) return {};
    p = *a;
  }
  if (p < 0 || p > Decimal::kMaxScale) Fail("round() precision out of range");
  auto d = AsDecimal(*i)->Rescale(static_cast<int>(p));
  if (!d) return {};
  return One(Item::Dec(*d));
}

// exp(), ln(), sqrt() in double precision; empty outside the domain.
Collection ExpLnSqrt(FunctionCall& c) {
  const Item* i = MathInput(c);
  if (!i) return {};
  double x = AsDecimal(*i)->ToDouble();
  if (c.fn == kExp) return FromDouble(std::exp(x));
  if (x < 0 || (c.fn == kLn && x == 0)) return {};
  return FromDouble(c.fn == kLn ? std::log(x) : std::sqrt(x));
}

Collection Log(FunctionCall& c) {
  const Item* i = MathInput(c);
  const Item* b = c.Single(c.args[0], "log()");
  if (!i || !b) return {};
  if (!IsNumeric(*b)) Fail("log() expects a numeric base");
  double x = AsDecimal(*i)->ToDouble(), base = AsDecimal(*b)->ToDouble();
  if (x <= 0 || base <= 0 || base == 1) return {};
  return FromDouble(std::log(x) / std::log(base));
}

// power(): exact for Integer ** non-negative Integer (empty on overflow), else double.
Collection Power(FunctionCall& c) {
  const Item* i = MathInput(c);
  const Item* e = c.Single(c.args[0], "power()");
  if (!i || !e) return {};
  if (!IsNumeric(*e)) Fail("power() expects a numeric exponent");
  if (i->kind() == ValueKind::kInteger && e->kind() == ValueKind::kInteger && e->integer() >= 0) {
    int64_t r = 1;
    for (int64_t k = 0; k < e->integer(); ++k) {
      if (__builtin_mul_overflow(r, i->integer(), &r)) return {};
      if (r == 0 || r == 1) break;
      c.Step();
    }
    return One(Item::Integer(r));
  }
  double r = std::pow(AsDecimal(*i)->ToDouble(), AsDecimal(*e)->ToDouble());
  if (std::isnan(r)) return {};
  return FromDouble(r);
}

std::optional<Decimal> DecimalBoundary(const Decimal& v, std::optional<int64_t> precision,
                                       bool high) {
  int64_t p = precision.value_or(8);
  if (p < 0 || p > Decimal::kMaxScale) return std::nullopt;
  // Half a unit in the last written digit.
  auto half = Decimal::Parse("0.5");
  auto scaled = Decimal::Div(*half, *Decimal::Parse("1" + std::string(v.scale(), '0')));
  if (!scaled) return std::nullopt;
  auto bound = high ? Decimal::Add(v, *scaled) : Decimal::Sub(v, *scaled);
  if (!bound) return std::nullopt;
  // A boundary smaller than one unit at the requested precision is zero (suite: 0.0034).
  auto unit = Decimal::Div(Decimal::FromInt(1),
                           *Decimal::Parse("1" + std::string(static_cast<size_t>(p), '0')));
  Decimal mag = v.IsNegative() ? *Decimal::Negate(v) : v;
  auto cmp = Decimal::Compare(mag, *unit);
  if (cmp && *cmp < 0) return Decimal::FromInt(0).Rescale(static_cast<int>(p));
  return high ? bound->Ceil(static_cast<int>(p)) : bound->Floor(static_cast<int>(p));
}

bool IsTemporal(const Item& i) {
  return i.kind() == ValueKind::kDate || i.kind() == ValueKind::kDateTime ||
         i.kind() == ValueKind::kTime;
}

// lowBoundary([precision]), highBoundary([precision]) of a number, Quantity, date or time.
Collection Boundary(FunctionCall& c) {
  const Item* i = c.SingleInput(c.node.name.c_str());
  if (!i) return {};
  std::optional<int64_t> p;
  if (!c.node.args.empty()) {
    p = c.ArgInteger(0);
    if (!p) return {};
  }
  bool high = c.fn == kHighBoundary;
  if (IsNumeric(*i)) {
    auto d = DecimalBoundary(*AsDecimal(*i), p, high);
    if (!d) return {};
    return One(Item::Dec(*d));
  }
  if (auto q = AsQuantity(*i)) {
    auto d = DecimalBoundary(q->value, p, high);
    if (!d) return {};
    q->value = *d;
    return One(Item::Qty(*q));
  }
  if (IsTemporal(*i)) {
    const Temporal& t = i->temporal();
    int digits = p ? static_cast<int>(*p)
                   : (t.kind == TemporalKind::kDate       ? 8
                      : t.kind == TemporalKind::kDateTime ? 17
                                                          : 9);
    if (p && (*p < 0 || *p > 17)) return {};
    auto r = t.Boundary(digits, high);
    if (!r) return {};
    return One(Item::Temp(*r));
  }
  Fail(c.node.name + "() cannot be applied to " + std::string(i->TypeName()));
}

Collection Precision(FunctionCall& c) {
  const Item* i = c.SingleInput("precision()");
  if (!i) return {};
  if (i->kind() == ValueKind::kDecimal) return One(Item::Integer(i->decimal().scale()));
  if (i->kind() == ValueKind::kInteger) return One(Item::Integer(0));
  if (IsTemporal(*i)) return One(Item::Integer(i->temporal().PrecisionDigits()));
  if (auto q = AsQuantity(*i)) return One(Item::Integer(q->value.scale()));
  Fail("precision() cannot be applied to " + std::string(i->TypeName()));
}

// comparable(other): both Quantities have units of the same dimensions.
Collection Comparable(FunctionCall& c) {
  const Item* i = c.SingleInput("comparable()");
  const Item* o = c.Single(c.args[0], "comparable()");
  if (!i || !o) return {};
  auto a = AsQuantity(*i), b = AsQuantity(*o);
  if (!a || !b) Fail("comparable() expects quantities");
  auto ua = UnitOf(*a), ub = UnitOf(*b);
  return Bool(ua && ub && ua->dims == ub->dims);
}

}  // namespace

Collection CallMathFunction(FunctionCall& c) {
  switch (c.fn) {
    case kAbs:
      return Abs(c);
    case kCeiling:
    case kFloor:
    case kTruncate:
      return ToWhole(c);
    case kRound:
      return Round(c);
    case kExp:
    case kLn:
    case kSqrt:
      return ExpLnSqrt(c);
    case kLog:
      return Log(c);
    case kPower:
      return Power(c);
    case kLowBoundary:
    case kHighBoundary:
      return Boundary(c);
    case kPrecisionFn:
      return Precision(c);
    case kComparable:
      return Comparable(c);
    default:
      NotImplemented(c);
  }
}

}  // namespace fhir::fhirpath::internal
