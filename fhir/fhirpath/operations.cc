#include "fhir/fhirpath/operations.h"

#include <cctype>
#include <vector>

#include "fhir/fhirpath/model.h"

namespace fhir::fhirpath::internal {
namespace {

bool IsTemporal(const Item& i) {
  return i.kind() == ValueKind::kDate || i.kind() == ValueKind::kDateTime ||
         i.kind() == ValueKind::kTime;
}

bool IsQuantityObject(const Item& i) {
  return i.kind() == ValueKind::kObject && i.node() && i.node()->IsObject() &&
         model::IsSubtype(i.type_info(), "Quantity");
}

std::string NormalizeForEquivalence(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string TypeLabel(const Item& i) { return std::string(i.TypeName()); }

std::optional<Item> QuantityResult(std::optional<Decimal> v, std::string unit, bool calendar) {
  if (!v) return std::nullopt;
  return Item::Qty(Quantity{*v, std::move(unit), calendar});
}

std::string UcumOf(const Quantity& q) {
  if (!q.calendar) return q.unit;
  std::string_view w = CalendarWordSingular(q.unit);
  if (w == "week") return "wk";
  if (w == "day") return "d";
  if (w == "hour") return "h";
  if (w == "minute") return "min";
  if (w == "second") return "s";
  if (w == "millisecond") return "ms";
  if (w == "year") return "a";
  if (w == "month") return "mo";
  return q.unit;
}

std::string WrapUnit(const std::string& u) {
  if (u.find_first_of("./") == std::string::npos) return u;
  return "(" + u + ")";
}

// Deep JSON equality without recursion (resources may be nested arbitrarily deep).
bool JsonEqual(const rapidjson::Value& a0, const rapidjson::Value& b0) {
  std::vector<std::pair<const rapidjson::Value*, const rapidjson::Value*>> work{{&a0, &b0}};
  while (!work.empty()) {
    auto [a, b] = work.back();
    work.pop_back();
    if (a == b) continue;
    if (a->GetType() != b->GetType()) {
      // Numbers may be stored differently (int vs double); compare as doubles.
      if (a->IsNumber() && b->IsNumber() && a->GetDouble() == b->GetDouble()) continue;
      return false;
    }
    switch (a->GetType()) {
      case rapidjson::kObjectType: {
        if (a->MemberCount() != b->MemberCount()) return false;
        for (auto m = a->MemberBegin(); m != a->MemberEnd(); ++m) {
          auto o = b->FindMember(m->name);
          if (o == b->MemberEnd()) return false;
          work.emplace_back(&m->value, &o->value);
        }
        break;
      }
      case rapidjson::kArrayType:
        if (a->Size() != b->Size()) return false;
        for (rapidjson::SizeType i = 0; i < a->Size(); ++i) work.emplace_back(&(*a)[i], &(*b)[i]);
        break;
      case rapidjson::kStringType:
        if (a->GetStringLength() != b->GetStringLength() ||
            std::string_view(a->GetString(), a->GetStringLength()) !=
                std::string_view(b->GetString(), b->GetStringLength())) {
          return false;
        }
        break;
      case rapidjson::kNumberType:
        if (!(*a == *b)) return false;
        break;
      default:
        if (!(*a == *b)) return false;
    }
  }
  return true;
}

}  // namespace

void Fail(std::string message) { throw EvalFailure{std::move(message)}; }

bool IsNumeric(const Item& i) {
  return i.kind() == ValueKind::kInteger || i.kind() == ValueKind::kDecimal;
}

std::optional<Decimal> AsDecimal(const Item& i) {
  if (i.kind() == ValueKind::kInteger) return Decimal::FromInt(i.integer());
  if (i.kind() == ValueKind::kDecimal) return i.decimal();
  return std::nullopt;
}

std::optional<Quantity> AsQuantity(const Item& i) {
  if (i.kind() == ValueKind::kQuantity) return i.quantity();
  if (!IsQuantityObject(i)) return std::nullopt;
  const rapidjson::Value& o = *i.node();
  auto value_it = o.FindMember("value");
  if (value_it == o.MemberEnd()) return std::nullopt;
  auto v = Item::FromModel(&value_it->value, nullptr, "decimal");
  if (!v) return std::nullopt;
  Quantity q;
  q.value = v->decimal();
  auto str = [&](const char* name) -> std::string {
    auto it = o.FindMember(name);
    if (it == o.MemberEnd() || !it->value.IsString()) return {};
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  std::string system = str("system"), code = str("code"), unit = str("unit");
  if (system == "http://unitsofmeasure.org" && !code.empty()) {
    q.unit = code;
  } else if (!code.empty()) {
    q.unit = code;
  } else if (!unit.empty()) {
    q.unit = unit;
    if (!CalendarWordSingular(unit).empty()) q.calendar = true;
  } else {
    q.unit = "1";
  }
  return q;
}

std::optional<bool> Equal(const Item& a, const Item& b) {
  if (a.kind() == ValueKind::kObject || b.kind() == ValueKind::kObject) {
    auto qa = AsQuantity(a), qb = AsQuantity(b);
    if (qa && qb) return Equal(Item::Qty(*qa), Item::Qty(*qb));
    if (a.kind() != b.kind()) return false;
    if (!a.node() || !b.node()) return a.node() == b.node();
    return JsonEqual(*a.node(), *b.node());
  }
  if (IsNumeric(a) && IsNumeric(b)) {
    if (a.kind() == ValueKind::kInteger && b.kind() == ValueKind::kInteger) {
      return a.integer() == b.integer();
    }
    auto c = Decimal::Compare(*AsDecimal(a), *AsDecimal(b));
    return c && *c == 0;
  }
  if (IsTemporal(a) && IsTemporal(b)) {
    switch (CompareTemporal(a.temporal(), b.temporal())) {
      case Order::kEqual:
        return true;
      case Order::kUnknown:
        return std::nullopt;
      default:
        return false;
    }
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kBoolean:
      return a.boolean() == b.boolean();
    case ValueKind::kString:
      return a.str() == b.str();
    case ValueKind::kQuantity: {
      Quantity qa = a.quantity(), qb = b.quantity();
      auto conv = ConvertTo(qb, qa);
      if (!conv) return std::nullopt;
      auto c = Decimal::Compare(qa.value, *conv);
      return c && *c == 0;
    }
    case ValueKind::kTypeInfo:
      return a.type_namespace() == b.type_namespace() && a.str() == b.str();
    default:
      return false;
  }
}

bool Equivalent(const Item& a, const Item& b) {
  if (a.kind() == ValueKind::kObject || b.kind() == ValueKind::kObject) {
    auto qa = AsQuantity(a), qb = AsQuantity(b);
    if (qa && qb) return Equivalent(Item::Qty(*qa), Item::Qty(*qb));
    auto e = Equal(a, b);
    return e && *e;
  }
  if (IsNumeric(a) && IsNumeric(b)) {
    Decimal x = *AsDecimal(a), y = *AsDecimal(b);
    int s = std::min(x.scale(), y.scale());
    auto rx = x.Rescale(s), ry = y.Rescale(s);
    if (!rx || !ry) return false;
    auto c = Decimal::Compare(*rx, *ry);
    return c && *c == 0;
  }
  if (IsTemporal(a) && IsTemporal(b)) {
    return CompareTemporal(a.temporal(), b.temporal()) == Order::kEqual;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kBoolean:
      return a.boolean() == b.boolean();
    case ValueKind::kString:
      return NormalizeForEquivalence(a.str()) == NormalizeForEquivalence(b.str());
    case ValueKind::kQuantity: {
      Quantity qa = a.quantity(), qb = b.quantity();
      auto conv = ConvertTo(qb, qa);
      if (!conv) return false;
      int s = std::min(qa.value.scale(), conv->scale());
      auto rx = qa.value.Rescale(s), ry = conv->Rescale(s);
      if (!rx || !ry) return false;
      auto c = Decimal::Compare(*rx, *ry);
      return c && *c == 0;
    }
    default: {
      auto e = Equal(a, b);
      return e && *e;
    }
  }
}

std::optional<int> CompareOrder(const Item& a, const Item& b, std::optional<int> local_offset) {
  if (IsNumeric(a) && IsNumeric(b)) {
    return Decimal::Compare(*AsDecimal(a), *AsDecimal(b));
  }
  if (a.kind() == ValueKind::kString && b.kind() == ValueKind::kString) {
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (IsTemporal(a) && IsTemporal(b)) {
    switch (CompareTemporal(a.temporal(), b.temporal(), local_offset)) {
      case Order::kLess:
        return -1;
      case Order::kEqual:
        return 0;
      case Order::kGreater:
        return 1;
      case Order::kUnknown:
        return std::nullopt;
      case Order::kIncomparable:
        break;
    }
  }
  auto qa = AsQuantity(a), qb = AsQuantity(b);
  if (qa && qb) {
    auto conv = ConvertTo(*qb, *qa);
    if (!conv) return std::nullopt;
    return Decimal::Compare(qa->value, *conv);
  }
  Fail("cannot compare " + TypeLabel(a) + " with " + TypeLabel(b));
}

std::optional<Item> Arithmetic(Op op, const Item& a, const Item& b) {
  auto bad = [&]() -> std::optional<Item> {
    static const char* const kNames[] = {"", "+", "-", "*", "/", "div", "mod"};
    int k = static_cast<int>(op);
    Fail(std::string("operator '") + (k <= 6 ? kNames[k] : "?") + "' cannot be applied to " +
         TypeLabel(a) + " and " + TypeLabel(b));
  };
  if (a.kind() == ValueKind::kInteger && b.kind() == ValueKind::kInteger) {
    int64_t x = a.integer(), y = b.integer(), r;
    switch (op) {
      case Op::kPlus:
        if (__builtin_add_overflow(x, y, &r)) return std::nullopt;
        return Item::Integer(r);
      case Op::kMinus:
        if (__builtin_sub_overflow(x, y, &r)) return std::nullopt;
        return Item::Integer(r);
      case Op::kMul:
        if (__builtin_mul_overflow(x, y, &r)) return std::nullopt;
        return Item::Integer(r);
      case Op::kIntDiv:
        if (y == 0 || (x == INT64_MIN && y == -1)) return std::nullopt;
        return Item::Integer(x / y);
      case Op::kMod:
        if (y == 0 || (x == INT64_MIN && y == -1)) return std::nullopt;
        return Item::Integer(x % y);
      default:
        break;  // '/' yields a Decimal
    }
  }
  if (IsNumeric(a) && IsNumeric(b)) {
    Decimal x = *AsDecimal(a), y = *AsDecimal(b);
    std::optional<Decimal> r;
    switch (op) {
      case Op::kPlus:
        r = Decimal::Add(x, y);
        break;
      case Op::kMinus:
        r = Decimal::Sub(x, y);
        break;
      case Op::kMul:
        r = Decimal::Mul(x, y);
        break;
      case Op::kDiv:
        r = Decimal::Div(x, y);
        break;
      case Op::kIntDiv: {
        auto q = Decimal::Div(x, y);
        if (!q) return std::nullopt;
        auto t = q->Truncate(0);
        if (!t || t->units() > INT64_MAX || t->units() < INT64_MIN) return std::nullopt;
        return Item::Integer(static_cast<int64_t>(t->units()));
      }
      case Op::kMod: {
        auto q = Decimal::Div(x, y);
        if (!q) return std::nullopt;
        auto t = q->Truncate(0);
        if (!t) return std::nullopt;
        auto m = Decimal::Mul(y, *t);
        if (!m) return std::nullopt;
        r = Decimal::Sub(x, *m);
        break;
      }
      default:
        return bad();
    }
    if (!r) return std::nullopt;
    return Item::Dec(*r);
  }
  if (a.kind() == ValueKind::kString && b.kind() == ValueKind::kString && op == Op::kPlus) {
    return Item::String(std::string(a.str()) + std::string(b.str()));
  }
  if (IsTemporal(a) && (op == Op::kPlus || op == Op::kMinus)) {
    auto q = AsQuantity(b);
    if (!q) return bad();
    std::string_view unit = DateArithmeticUnit(*q);
    if (unit.empty()) Fail("cannot add or subtract '" + q->unit + "' to a date/time");
    auto t = q->value.Truncate(0);
    if (!t || t->units() > 1000000000 || t->units() < -1000000000) return std::nullopt;
    int64_t n = static_cast<int64_t>(t->units());
    if (op == Op::kMinus) n = -n;
    auto r = a.temporal().Add(n, unit);
    if (!r) return std::nullopt;
    return Item::Temp(*r);
  }
  auto qa = AsQuantity(a), qb = AsQuantity(b);
  if (qa && qb) {
    switch (op) {
      case Op::kPlus:
      case Op::kMinus: {
        auto conv = ConvertTo(*qb, *qa);
        if (!conv) return std::nullopt;
        return QuantityResult(
            op == Op::kPlus ? Decimal::Add(qa->value, *conv) : Decimal::Sub(qa->value, *conv),
            qa->unit, qa->calendar);
      }
      case Op::kMul: {
        std::string ua = UcumOf(*qa), ub = UcumOf(*qb);
        std::string unit = ua == "1" ? ub : (ub == "1" ? ua : WrapUnit(ua) + "." + WrapUnit(ub));
        return QuantityResult(Decimal::Mul(qa->value, qb->value), unit, false);
      }
      case Op::kDiv: {
        std::string ua = UcumOf(*qa), ub = UcumOf(*qb);
        std::string unit = ua == ub ? "1" : (ub == "1" ? ua : WrapUnit(ua) + "/" + WrapUnit(ub));
        return QuantityResult(Decimal::Div(qa->value, qb->value), unit, false);
      }
      default:
        return bad();
    }
  }
  if (qa && IsNumeric(b) && (op == Op::kMul || op == Op::kDiv)) {
    Decimal y = *AsDecimal(b);
    return QuantityResult(op == Op::kMul ? Decimal::Mul(qa->value, y) : Decimal::Div(qa->value, y),
                          qa->unit, qa->calendar);
  }
  if (qb && IsNumeric(a) && op == Op::kMul) {
    return QuantityResult(Decimal::Mul(*AsDecimal(a), qb->value), qb->unit, qb->calendar);
  }
  return bad();
}

std::optional<bool> ToBoolean(const Item& i) {
  switch (i.kind()) {
    case ValueKind::kBoolean:
      return i.boolean();
    case ValueKind::kInteger:
      if (i.integer() == 1) return true;
      if (i.integer() == 0) return false;
      return std::nullopt;
    case ValueKind::kDecimal: {
      auto c1 = Decimal::Compare(i.decimal(), Decimal::FromInt(1));
      auto c0 = Decimal::Compare(i.decimal(), Decimal::FromInt(0));
      if (c1 && *c1 == 0) return true;
      if (c0 && *c0 == 0) return false;
      return std::nullopt;
    }
    case ValueKind::kString: {
      std::string s = NormalizeForEquivalence(i.str());
      if (s == "true" || s == "t" || s == "yes" || s == "y" || s == "1" || s == "1.0") return true;
      if (s == "false" || s == "f" || s == "no" || s == "n" || s == "0" || s == "0.0") return false;
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<int64_t> ToInteger(const Item& i) {
  switch (i.kind()) {
    case ValueKind::kInteger:
      return i.integer();
    case ValueKind::kBoolean:
      return i.boolean() ? 1 : 0;
    case ValueKind::kString: {
      std::string_view s = i.str();
      size_t k = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
      if (k == s.size()) return std::nullopt;
      for (size_t j = k; j < s.size(); ++j) {
        if (s[j] < '0' || s[j] > '9') return std::nullopt;
      }
      auto d = Decimal::Parse(s);
      if (!d || d->units() > INT32_MAX || d->units() < INT32_MIN) return std::nullopt;
      return static_cast<int64_t>(d->units());
    }
    default:
      return std::nullopt;
  }
}

std::optional<Decimal> ToDecimal(const Item& i) {
  switch (i.kind()) {
    case ValueKind::kInteger:
      return Decimal::FromInt(i.integer());
    case ValueKind::kDecimal:
      return i.decimal();
    case ValueKind::kBoolean:
      return Decimal::FromInt(i.boolean() ? 1 : 0);
    case ValueKind::kString: {
      std::string_view s = i.str();
      size_t k = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
      bool digit = false;
      for (size_t j = k; j < s.size(); ++j) {
        if (s[j] >= '0' && s[j] <= '9') {
          digit = true;
        } else if (s[j] != '.') {
          return std::nullopt;
        }
      }
      if (!digit) return std::nullopt;
      return Decimal::Parse(s);
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string> ToStringValue(const Item& i) {
  if (i.kind() == ValueKind::kObject) {
    auto q = AsQuantity(i);
    if (q) return q->ToString();
    return std::nullopt;
  }
  if (i.kind() == ValueKind::kTypeInfo) return std::nullopt;
  return i.ToText();
}

std::optional<Temporal> ToTemporal(const Item& i, TemporalKind kind) {
  if (i.kind() == ValueKind::kString) return Temporal::Parse(i.str(), kind);
  if (i.kind() == ValueKind::kDate || i.kind() == ValueKind::kDateTime) {
    if (kind == TemporalKind::kTime) return std::nullopt;
    Temporal t = i.temporal();
    if (kind == TemporalKind::kDate) {
      if (t.precision > kDay) t.precision = kDay;
      t.has_tz = false;
    }
    t.kind = kind;
    return t;
  }
  if (i.kind() == ValueKind::kTime && kind == TemporalKind::kTime) return i.temporal();
  return std::nullopt;
}

std::optional<Quantity> ToQuantity(const Item& i) {
  switch (i.kind()) {
    case ValueKind::kInteger:
    case ValueKind::kDecimal:
      return Quantity{*AsDecimal(i), "1", false};
    case ValueKind::kBoolean:
      return Quantity{*Decimal::Parse(i.boolean() ? "1.0" : "0.0"), "1", false};
    case ValueKind::kQuantity:
      return i.quantity();
    case ValueKind::kObject:
      return AsQuantity(i);
    case ValueKind::kString: {
      std::string_view s = i.str();
      size_t k = 0;
      while (k < s.size() && s[k] == ' ') ++k;
      size_t start = k;
      if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
      while (k < s.size() && ((s[k] >= '0' && s[k] <= '9') || s[k] == '.')) ++k;
      auto v = Decimal::Parse(s.substr(start, k - start));
      if (!v) return std::nullopt;
      while (k < s.size() && s[k] == ' ') ++k;
      std::string_view rest = s.substr(k);
      while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
      if (rest.empty()) return Quantity{*v, "1", false};
      if (rest.size() >= 2 && rest.front() == '\'' && rest.back() == '\'') {
        std::string unit(rest.substr(1, rest.size() - 2));
        if (unit.empty() || unit.find('\'') != std::string::npos) return std::nullopt;
        return Quantity{*v, unit, false};
      }
      if (!CalendarWordSingular(rest).empty()) return Quantity{*v, std::string(rest), true};
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace fhir::fhirpath::internal
