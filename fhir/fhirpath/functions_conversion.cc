// Conversion functions (FHIRPath §5.5: iif, toX()/convertsToX()), the function forms of the
// type operators (as(), is()), type(), conformsTo(), and FHIR's hasValue()/getValue().
#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/model.h"
#include "fhir/fhirpath/operations.h"
#include "fhir/fhirpath/quantity.h"

namespace fhir::fhirpath::internal {
namespace {

// The System value of a FHIR primitive (or Quantity) item; nullopt for other objects.
std::optional<Item> ToSystem(const Item& i) {
  switch (i.kind()) {
    case ValueKind::kBoolean:
      return Item::Boolean(i.boolean());
    case ValueKind::kInteger:
      return Item::Integer(i.integer());
    case ValueKind::kDecimal:
      return Item::Dec(i.decimal());
    case ValueKind::kString:
      return Item::String(std::string(i.str()));
    case ValueKind::kDate:
    case ValueKind::kDateTime:
    case ValueKind::kTime:
      return Item::Temp(i.temporal());
    case ValueKind::kQuantity:
      return Item::Qty(i.quantity());
    default: {
      auto q = AsQuantity(i);
      if (q) return Item::Qty(*q);
      return std::nullopt;
    }
  }
}

// iif(criterion, true-result [, otherwise-result]): only the chosen branch is evaluated.
Collection Iif(FunctionCall& c) {
  if (c.input.size() > 1) Fail("iif() expects at most one input item");
  FunctionCall::Frame inner = c.frame;
  if (!c.input.empty()) inner.this_item = &c.input[0];
  FunctionCall::Focus focus =
      c.input.empty() && c.frame.this_item ? FunctionCall::Focus(c.frame.this_item, 1) : c.input;
  Collection crit = c.Eval(*c.node.args[0], focus, inner);
  const Item* i = c.Single(crit, "iif() criterion");
  bool take = false;
  if (i) {
    if (i->kind() != ValueKind::kBoolean) Fail("iif() criterion must be a boolean");
    take = i->boolean();
  }
  if (take) return c.Eval(*c.node.args[1], focus, inner);
  if (c.node.args.size() > 2) return c.Eval(*c.node.args[2], focus, inner);
  return {};
}

// toX() gives the converted value (empty when it does not convert); convertsToX() whether it
// converts.
template <typename T, typename MakeItem>
Collection Converted(bool converts_to, const std::optional<T>& v, MakeItem make) {
  if (converts_to) return Bool(v.has_value());
  if (!v) return {};
  return One(make(*v));
}

Collection ToTemporalFn(FunctionCall& c, const Item& i) {
  const int fn = c.fn;
  TemporalKind k = (fn == kToDate || fn == kConvertsToDate)           ? TemporalKind::kDate
                   : (fn == kToDateTime || fn == kConvertsToDateTime) ? TemporalKind::kDateTime
                                                                      : TemporalKind::kTime;
  bool converts_to = fn == kConvertsToDate || fn == kConvertsToDateTime || fn == kConvertsToTime;
  return Converted(converts_to, ToTemporal(i, k), [](const Temporal& t) { return Item::Temp(t); });
}

// toQuantity([unit]): with a unit, converted to it (empty when the units do not convert).
Collection ToQuantityFn(FunctionCall& c, const Item& i) {
  auto q = ToQuantity(i);
  if (q && !c.node.args.empty()) {
    auto unit = c.ArgString(0);
    if (!unit) return {};
    Quantity target{Decimal::FromInt(1), *unit, !CalendarWordSingular(*unit).empty()};
    auto v = ConvertTo(*q, target);
    q = v ? std::optional<Quantity>(Quantity{*v, *unit, target.calendar}) : std::nullopt;
  }
  return Converted(c.fn == kConvertsToQuantity, q, [](const Quantity& x) { return Item::Qty(x); });
}

// toX() and convertsToX() for every X.
Collection Convert(FunctionCall& c) {
  const Item* i = c.SingleInput(c.node.name.c_str());
  if (!i) return {};
  switch (c.fn) {
    case kToBoolean:
    case kConvertsToBoolean:
      return Converted(c.fn == kConvertsToBoolean, ToBoolean(*i),
                       [](bool b) { return Item::Boolean(b); });
    case kToInteger:
    case kConvertsToInteger:
    case kToLong:
    case kConvertsToLong:
      return Converted(c.fn == kConvertsToInteger || c.fn == kConvertsToLong, ToInteger(*i),
                       [](int64_t v) { return Item::Integer(v); });
    case kToDecimal:
    case kConvertsToDecimal:
      return Converted(c.fn == kConvertsToDecimal, ToDecimal(*i),
                       [](const Decimal& d) { return Item::Dec(d); });
    case kToStringFn:
    case kConvertsToString:
      return Converted(c.fn == kConvertsToString, ToStringValue(*i),
                       [](const std::string& s) { return Item::String(s); });
    case kToQuantity:
    case kConvertsToQuantity:
      return ToQuantityFn(c, *i);
    default:
      return ToTemporalFn(c, *i);
  }
}

Collection As(FunctionCall& c) {
  const Item* i = c.SingleInput("as()");
  if (!i || !c.IsType(*i, c.node.type, true)) return {};
  return One(*i);
}

Collection Is(FunctionCall& c) {
  const Item* i = c.SingleInput("is()");
  if (!i) return {};
  return Bool(c.IsType(*i, c.node.type, false));
}

Collection Type(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) {
    if (i.is_model()) {
      c.Push(&out, Item::TypeSpec("FHIR", std::string(i.fhir_type())));
    } else {
      c.Push(&out, Item::TypeSpec("System", i.SystemTypeName()));
    }
  }
  return out;
}

// conformsTo(url): only the base R4 profiles (StructureDefinition/<type>) are known.
Collection ConformsTo(FunctionCall& c) {
  auto url = c.ArgString(0);
  if (!url) return {};
  static const std::string kBase = "http://hl7.org/fhir/StructureDefinition/";
  if (url->rfind(kBase, 0) != 0) Fail("unknown profile '" + *url + "'");
  std::string type = url->substr(kBase.size());
  if (!model::FindType(type)) Fail("unknown profile '" + *url + "'");
  const Item* i = c.SingleInput("conformsTo()");
  if (!i) return {};
  return Bool(i->is_model() && model::IsSubtype(i->fhir_type(), type));
}

Collection HasValue(FunctionCall& c) {
  if (c.input.size() != 1) return Bool(false);
  const Item& i = c.input[0];
  return Bool(i.is_model() && i.node() && i.kind() != ValueKind::kObject);
}

Collection GetValue(FunctionCall& c) {
  if (c.input.size() != 1) return {};
  const Item& i = c.input[0];
  if (!i.is_model() || !i.node() || i.kind() == ValueKind::kObject) return {};
  auto v = ToSystem(i);
  if (!v) return {};
  return One(*v);
}

}  // namespace

Collection CallConversionFunction(FunctionCall& c) {
  switch (c.fn) {
    case kIif:
      return Iif(c);
    case kToBoolean:
    case kConvertsToBoolean:
    case kToInteger:
    case kConvertsToInteger:
    case kToLong:
    case kConvertsToLong:
    case kToDecimal:
    case kConvertsToDecimal:
    case kToStringFn:
    case kConvertsToString:
    case kToDate:
    case kConvertsToDate:
    case kToDateTime:
    case kConvertsToDateTime:
    case kToTime:
    case kConvertsToTime:
    case kToQuantity:
    case kConvertsToQuantity:
      return Convert(c);
    case kAsFn:
      return As(c);
    case kIsFn:
      return Is(c);
    case kType:
      return Type(c);
    case kConformsTo:
      return ConformsTo(c);
    case kHasValue:
      return HasValue(c);
    case kGetValue:
      return GetValue(c);
    default:
      NotImplemented(c);
  }
}

}  // namespace fhir::fhirpath::internal
