// The FHIRPath function library (FHIRPath 2.0 §5 and the 2.1 additions).
#include <algorithm>
#include <cmath>
#include <regex>
#include <unordered_set>

#include "fhir/fhirpath/evaluator.h"
#include "fhir/fhirpath/functions.h"
#include "fhir/fhirpath/model.h"
#include "fhir/fhirpath/operations.h"
#include "fhir/fhirpath/string_codecs.h"

namespace fhir::fhirpath {

using internal::Fail;
using internal::NodeKind;

namespace {

// std::regex backtracks recursively; these bounds keep it off the stack limit.
constexpr size_t kMaxRegexInput = 8 * 1024;
constexpr size_t kMaxRegexPattern = 1024;

Collection One(Item i) { return Collection{std::move(i)}; }
Collection Bool(bool b) { return One(Item::Boolean(b)); }

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
      auto q = internal::AsQuantity(i);
      if (q) return Item::Qty(*q);
      return std::nullopt;
    }
  }
}

// Rewrites '.' outside character classes so it also matches line breaks (FHIRPath regexes
// run in single-line mode).
std::string DotAll(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out.push_back(c);
      out.push_back(pattern[++i]);
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      continue;
    }
    if (c == '.') {
      out += "[\\s\\S]";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// std::regex backtracks, so a hostile pattern can take exponential (or high polynomial)
// time. Patterns are screened before use: no quantified quantifiers ("a**", "(a+)+"), no
// repeat counts above 1000, and len(input)^quantifiers must stay below ~1e7.
void CheckRegexCost(std::string_view pattern, size_t input_length) {
  int depth = 0;
  std::vector<bool> quantified_inside(1, false);
  int quantifiers = 0;
  bool prev_quantifier = false;  // previous token was a quantifier or a lazy modifier
  bool prev_lazy = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    bool is_quantifier = false;
    bool is_lazy = false;
    if (c == '\\') {
      // Back-references: libstdc++ parses the number without an overflow check.
      size_t digits = 0;
      while (i + 1 + digits < pattern.size() && pattern[i + 1 + digits] >= '0' &&
             pattern[i + 1 + digits] <= '9') {
        ++digits;
      }
      if (digits > 2) Fail("regular expression back-reference out of range");
      ++i;
    } else if (c == '[') {
      // Skip the character class.
      ++i;
      if (i < pattern.size() && pattern[i] == '^') ++i;
      if (i < pattern.size() && pattern[i] == ']') ++i;
      while (i < pattern.size() && pattern[i] != ']') {
        if (pattern[i] == '\\') ++i;
        ++i;
      }
    } else if (c == '(') {
      ++depth;
      quantified_inside.push_back(false);
    } else if (c == ')' && depth > 0) {
      bool inner = quantified_inside.back();
      quantified_inside.pop_back();
      --depth;
      char next = i + 1 < pattern.size() ? pattern[i + 1] : '\0';
      bool outer = next == '*' || next == '+' || next == '{';
      if (inner && outer) Fail("regular expression with nested quantifiers is not supported");
      if (inner) quantified_inside.back() = true;
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
      bool lazy = c == '?' && prev_quantifier && !prev_lazy;
      if (lazy) {
        is_lazy = true;
      } else {
        if (prev_quantifier) Fail("regular expression with nested quantifiers is not supported");
        ++quantifiers;
        quantified_inside.back() = true;
      }
      is_quantifier = true;
      if (c == '{') {
        size_t close = pattern.find('}', i);
        if (close == std::string_view::npos) Fail("invalid regular expression");
        long count = 0;
        for (size_t k = i + 1; k < close; ++k) {
          char d = pattern[k];
          if (d >= '0' && d <= '9') {
            count = count * 10 + (d - '0');
            if (count > 1000) Fail("regular expression repeat count above 1000");
          } else {
            count = 0;
          }
        }
        i = close;
      }
    }
    prev_quantifier = is_quantifier;
    prev_lazy = is_lazy;
  }
  double cost = 1;
  for (int q = 0; q < quantifiers && cost <= 1e7; ++q)
    cost *= static_cast<double>(input_length + 1);
  if (quantifiers > 1 && cost > 1e7) {
    Fail("regular expression too complex for a " + std::to_string(input_length) +
         "-character string");
  }
}

std::regex MakeRegex(std::string_view pattern, size_t input_length) {
  if (pattern.size() > kMaxRegexPattern) Fail("regular expression too long");
  CheckRegexCost(pattern, input_length);
  try {
    return std::regex(DotAll(pattern), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    Fail("invalid regular expression '" + std::string(pattern) + "'");
  }
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
  auto c = Decimal::Compare(mag, *unit);
  if (c && *c < 0) return Decimal::FromInt(0).Rescale(static_cast<int>(p));
  return high ? bound->Ceil(static_cast<int>(p)) : bound->Floor(static_cast<int>(p));
}

}  // namespace

Collection Evaluator::CallFunction(const Node& n, Focus input, const Frame& f) {
  using namespace internal;
  const int fn = n.fn;
  const FnInfo& info = FunctionInfo(fn);
  // Pre-evaluate the ordinary arguments with $this as focus.
  std::vector<Collection> args;
  if (info.deferred != 0xffffffffu && !n.args.empty()) {
    args.resize(n.args.size());
    for (size_t i = 0; i < n.args.size(); ++i) {
      if (!(info.deferred & (1u << i))) args[i] = EvalArg(*n.args[i], f);
    }
  }
  auto whole_input = [&]() { return Collection(input.begin(), input.end()); };
  auto lambda = [&](size_t arg, const Item& item, int64_t index) {
    Frame inner;
    inner.this_item = &item;
    inner.index = index;
    inner.total = f.total;
    size_t scope = defined_.size();
    Collection r = Eval(*n.args[arg], Focus(&item, 1), inner);
    defined_.resize(scope);
    return r;
  };
  auto single = [&](const char* what) { return Single(input, what); };
  auto arg_string = [&](size_t i) -> std::optional<std::string> {
    const Item* a = Single(args[i], n.name.c_str());
    if (!a) return std::nullopt;
    if (a->kind() != ValueKind::kString) Fail(n.name + "() expects a string argument");
    return std::string(a->str());
  };
  auto arg_integer = [&](size_t i) -> std::optional<int64_t> {
    const Item* a = Single(args[i], n.name.c_str());
    if (!a) return std::nullopt;
    if (a->kind() != ValueKind::kInteger) Fail(n.name + "() expects an integer argument");
    return a->integer();
  };
  // The single string input of a string function, or nullopt for empty input.
  auto input_string = [&]() -> std::optional<std::string_view> {
    const Item* i = single(n.name.c_str());
    if (!i) return std::nullopt;
    if (i->kind() != ValueKind::kString) {
      Fail(n.name + "() expects a string but got " + std::string(i->TypeName()));
    }
    return i->str();
  };
  auto string_result = [&](std::string s) {
    if (s.size() > ctx_.limits.max_string_length) Fail("string length limit exceeded");
    Step(s.size() / 16);
    return One(Item::String(std::move(s)));
  };
  auto all_booleans = [&](const char* what) {
    for (const Item& i : input) {
      if (i.kind() != ValueKind::kBoolean) Fail(std::string(what) + "() expects booleans");
    }
  };
  auto math_input = [&]() -> const Item* {
    const Item* i = single(n.name.c_str());
    if (i && !IsNumeric(*i) && !(fn == kAbs && i->kind() == ValueKind::kQuantity)) {
      Fail(n.name + "() expects a number");
    }
    return i;
  };
  auto from_double = [&](double d) -> Collection {
    auto r = Decimal::FromDouble(d);
    if (!r) return {};
    return One(Item::Dec(*r));
  };

  switch (fn) {
    case kEmptyFn:
      return Bool(input.empty());
    case kExists:
      if (n.args.empty()) return Bool(!input.empty());
      for (size_t i = 0; i < input.size(); ++i) {
        auto b = ToLogic(lambda(0, input[i], static_cast<int64_t>(i)), "exists()");
        if (b && *b) return Bool(true);
      }
      return Bool(false);
    case kAll:
      for (size_t i = 0; i < input.size(); ++i) {
        auto b = ToLogic(lambda(0, input[i], static_cast<int64_t>(i)), "all()");
        if (!b || !*b) return Bool(false);
      }
      return Bool(true);
    case kAllTrue:
      all_booleans("allTrue");
      for (const Item& i : input) {
        if (!i.boolean()) return Bool(false);
      }
      return Bool(true);
    case kAnyTrue:
      all_booleans("anyTrue");
      for (const Item& i : input) {
        if (i.boolean()) return Bool(true);
      }
      return Bool(false);
    case kAllFalse:
      all_booleans("allFalse");
      for (const Item& i : input) {
        if (i.boolean()) return Bool(false);
      }
      return Bool(true);
    case kAnyFalse:
      all_booleans("anyFalse");
      for (const Item& i : input) {
        if (!i.boolean()) return Bool(true);
      }
      return Bool(false);
    case kSubsetOf:
      for (const Item& i : input) {
        if (!Contains(args[0], i)) return Bool(false);
      }
      return Bool(true);
    case kSupersetOf:
      for (const Item& i : args[0]) {
        if (!Contains(input, i)) return Bool(false);
      }
      return Bool(true);
    case kCount:
      return One(Item::Integer(static_cast<int64_t>(input.size())));
    case kDistinct: {
      Collection out;
      for (const Item& i : input) {
        if (!Contains(out, i)) Push(&out, i);
      }
      return out;
    }
    case kIsDistinct: {
      Collection out;
      for (const Item& i : input) {
        if (Contains(out, i)) return Bool(false);
        Push(&out, i);
      }
      return Bool(true);
    }
    case kWhere: {
      Collection out;
      for (size_t i = 0; i < input.size(); ++i) {
        auto b = ToLogic(lambda(0, input[i], static_cast<int64_t>(i)), "where()");
        if (b && *b) Push(&out, input[i]);
      }
      return out;
    }
    case kSelect: {
      Collection out;
      for (size_t i = 0; i < input.size(); ++i) {
        for (Item& r : lambda(0, input[i], static_cast<int64_t>(i))) Push(&out, std::move(r));
      }
      return out;
    }
    case kRepeat:
    case kRepeatAll: {
      // `out` doubles as the work queue: items are projected in the order they were found.
      Collection out;
      std::vector<const rapidjson::Value*> seen;  // sorted; model objects already in `out`
      auto add = [&](Item&& r) {
        if (fn == kRepeat) {
          if (r.node() && r.kind() == ValueKind::kObject) {
            auto pos = std::lower_bound(seen.begin(), seen.end(), r.node());
            if (pos != seen.end() && *pos == r.node()) return;
            seen.insert(pos, r.node());
          } else if (Contains(out, r)) {
            return;
          }
        }
        Push(&out, std::move(r));
      };
      for (size_t i = 0; i < input.size(); ++i) {
        for (Item& r : lambda(0, input[i], static_cast<int64_t>(i))) add(std::move(r));
      }
      for (size_t q = 0; q < out.size(); ++q) {
        // Project first, append after: `out` must not grow while out[q] is the focus.
        Collection projected = lambda(0, out[q], static_cast<int64_t>(q));
        for (Item& r : projected) add(std::move(r));
      }
      return out;
    }
    case kOfType: {
      Collection out;
      for (const Item& i : input) {
        if (IsType(i, n.type, true)) Push(&out, i);
      }
      return out;
    }
    case kAsFn: {
      const Item* i = single("as()");
      if (!i || !IsType(*i, n.type, true)) return {};
      return One(*i);
    }
    case kIsFn: {
      const Item* i = single("is()");
      if (!i) return {};
      return Bool(IsType(*i, n.type, false));
    }
    case kSingle: {
      const Item* i = single("single()");
      if (!i) return {};
      return One(*i);
    }
    case kFirst:
      if (input.empty()) return {};
      return One(input.front());
    case kLast:
      if (input.empty()) return {};
      return One(input.back());
    case kTail:
      if (input.size() <= 1) return {};
      return Collection(input.begin() + 1, input.end());
    case kSkip: {
      auto k = arg_integer(0);
      if (!k) return {};
      if (*k <= 0) return whole_input();
      if (static_cast<size_t>(*k) >= input.size()) return {};
      return Collection(input.begin() + *k, input.end());
    }
    case kTake: {
      auto k = arg_integer(0);
      if (!k || *k <= 0) return {};
      if (static_cast<size_t>(*k) >= input.size()) return whole_input();
      return Collection(input.begin(), input.begin() + *k);
    }
    case kIntersect: {
      Collection out;
      for (const Item& i : input) {
        if (Contains(args[0], i) && !Contains(out, i)) Push(&out, i);
      }
      return out;
    }
    case kExclude: {
      Collection out;
      for (const Item& i : input) {
        if (!Contains(args[0], i)) Push(&out, i);
      }
      return out;
    }
    case kUnionFn: {
      Collection out;
      for (const Item& i : input) {
        if (!Contains(out, i)) Push(&out, i);
      }
      for (const Item& i : args[0]) {
        if (!Contains(out, i)) Push(&out, i);
      }
      return out;
    }
    case kCombine: {
      Collection out = whole_input();
      for (const Item& i : args[0]) Push(&out, i);
      return out;
    }
    case kIif: {
      if (input.size() > 1) Fail("iif() expects at most one input item");
      Frame inner = f;
      if (!input.empty()) inner.this_item = &input[0];
      Focus focus = input.empty() && f.this_item ? Focus(f.this_item, 1) : input;
      Collection crit = Eval(*n.args[0], focus, inner);
      const Item* c = Single(crit, "iif() criterion");
      bool take = false;
      if (c) {
        if (c->kind() != ValueKind::kBoolean) Fail("iif() criterion must be a boolean");
        take = c->boolean();
      }
      if (take) return Eval(*n.args[1], focus, inner);
      if (n.args.size() > 2) return Eval(*n.args[2], focus, inner);
      return {};
    }
    case kToBoolean:
    case kConvertsToBoolean: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      auto v = internal::ToBoolean(*i);
      if (fn == kConvertsToBoolean) return Bool(v.has_value());
      if (!v) return {};
      return Bool(*v);
    }
    case kToInteger:
    case kConvertsToInteger:
    case kToLong:
    case kConvertsToLong: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      auto v = internal::ToInteger(*i);
      if (fn == kConvertsToInteger || fn == kConvertsToLong) return Bool(v.has_value());
      if (!v) return {};
      return One(Item::Integer(*v));
    }
    case kToDecimal:
    case kConvertsToDecimal: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      auto v = internal::ToDecimal(*i);
      if (fn == kConvertsToDecimal) return Bool(v.has_value());
      if (!v) return {};
      return One(Item::Dec(*v));
    }
    case kToStringFn:
    case kConvertsToString: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      auto v = internal::ToStringValue(*i);
      if (fn == kConvertsToString) return Bool(v.has_value());
      if (!v) return {};
      return One(Item::String(*v));
    }
    case kToDate:
    case kConvertsToDate:
    case kToDateTime:
    case kConvertsToDateTime:
    case kToTime:
    case kConvertsToTime: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      TemporalKind k = (fn == kToDate || fn == kConvertsToDate)           ? TemporalKind::kDate
                       : (fn == kToDateTime || fn == kConvertsToDateTime) ? TemporalKind::kDateTime
                                                                          : TemporalKind::kTime;
      auto v = internal::ToTemporal(*i, k);
      if (fn == kConvertsToDate || fn == kConvertsToDateTime || fn == kConvertsToTime) {
        return Bool(v.has_value());
      }
      if (!v) return {};
      return One(Item::Temp(*v));
    }
    case kToQuantity:
    case kConvertsToQuantity: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      auto q = internal::ToQuantity(*i);
      if (q && !n.args.empty()) {
        auto unit = arg_string(0);
        if (!unit) return {};
        Quantity target{Decimal::FromInt(1), *unit, !CalendarWordSingular(*unit).empty()};
        auto v = ConvertTo(*q, target);
        q = v ? std::optional<Quantity>(Quantity{*v, *unit, target.calendar}) : std::nullopt;
      }
      if (fn == kConvertsToQuantity) return Bool(q.has_value());
      if (!q) return {};
      return One(Item::Qty(*q));
    }
    case kIndexOf:
    case kLastIndexOf: {
      auto s = input_string();
      auto sub = arg_string(0);
      if (!s || !sub) return {};
      size_t p = fn == kIndexOf ? s->find(*sub) : s->rfind(*sub);
      return One(Item::Integer(p == std::string_view::npos ? -1 : static_cast<int64_t>(p)));
    }
    case kSubstring: {
      auto s = input_string();
      auto start = arg_integer(0);
      if (!s || !start) return {};
      if (*start < 0 || static_cast<size_t>(*start) >= s->size()) return {};
      size_t len = s->size() - static_cast<size_t>(*start);
      if (n.args.size() > 1) {
        auto l = arg_integer(1);
        if (l) {
          if (*l < 0) return string_result("");
          len = std::min(len, static_cast<size_t>(*l));
        }
      }
      return string_result(std::string(s->substr(static_cast<size_t>(*start), len)));
    }
    case kStartsWith:
    case kEndsWith:
    case kContainsFn: {
      auto s = input_string();
      auto sub = arg_string(0);
      if (!s || !sub) return {};
      if (fn == kStartsWith) return Bool(s->substr(0, sub->size()) == *sub);
      if (fn == kEndsWith) {
        return Bool(s->size() >= sub->size() && s->substr(s->size() - sub->size()) == *sub);
      }
      return Bool(s->find(*sub) != std::string_view::npos);
    }
    case kUpper:
    case kLower: {
      auto s = input_string();
      if (!s) return {};
      std::string r(*s);
      for (char& c : r) {
        if (fn == kUpper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
        if (fn == kLower && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      }
      return string_result(std::move(r));
    }
    case kReplace: {
      auto s = input_string();
      auto pat = arg_string(0);
      auto rep = arg_string(1);
      if (!s || !pat || !rep) return {};
      std::string out;
      if (pat->empty()) {
        out = *rep;
        for (char c : *s) {
          out.push_back(c);
          out += *rep;
          if (out.size() > ctx_.limits.max_string_length) Fail("string length limit exceeded");
        }
        return string_result(std::move(out));
      }
      size_t pos = 0;
      for (;;) {
        size_t k = s->find(*pat, pos);
        if (k == std::string_view::npos) break;
        out.append(s->substr(pos, k - pos));
        out += *rep;
        if (out.size() > ctx_.limits.max_string_length) Fail("string length limit exceeded");
        pos = k + pat->size();
      }
      out.append(s->substr(pos));
      return string_result(std::move(out));
    }
    case kMatches:
    case kMatchesFull: {
      auto s = input_string();
      auto pat = arg_string(0);
      if (!s || !pat) return {};
      if (s->size() > kMaxRegexInput) Fail("string too long for a regular expression");
      std::regex re = MakeRegex(*pat, s->size());
      Step(s->size() * (pat->size() + 1));
      if (fn == kMatchesFull) return Bool(std::regex_match(s->begin(), s->end(), re));
      return Bool(std::regex_search(s->begin(), s->end(), re));
    }
    case kReplaceMatches: {
      auto s = input_string();
      auto pat = arg_string(0);
      auto rep = arg_string(1);
      if (!s || !pat || !rep) return {};
      if (pat->empty()) return string_result(std::string(*s));
      if (s->size() > kMaxRegexInput) Fail("string too long for a regular expression");
      std::regex re = MakeRegex(*pat, s->size());
      Step(s->size() * (pat->size() + 1));
      return string_result(std::regex_replace(std::string(*s), re, *rep));
    }
    case kLength: {
      auto s = input_string();
      if (!s) return {};
      return One(Item::Integer(static_cast<int64_t>(s->size())));
    }
    case kToChars: {
      auto s = input_string();
      if (!s) return {};
      Collection out;
      for (size_t i = 0; i < s->size();) {
        size_t len = 1;
        unsigned char c = static_cast<unsigned char>((*s)[i]);
        if (c >= 0xF0)
          len = 4;
        else if (c >= 0xE0)
          len = 3;
        else if (c >= 0xC0)
          len = 2;
        len = std::min(len, s->size() - i);
        Push(&out, Item::String(std::string(s->substr(i, len))));
        i += len;
      }
      return out;
    }
    case kEncode:
    case kDecode:
    case kEscape:
    case kUnescape: {
      auto s = input_string();
      auto format = arg_string(0);
      if (!s || !format) return {};
      std::optional<std::string> r;
      if (fn == kEncode) r = Encode(*s, *format);
      if (fn == kDecode) r = Decode(*s, *format);
      if (fn == kEscape) r = Escape(*s, *format);
      if (fn == kUnescape) r = Unescape(*s, *format);
      if (!r) return {};
      return string_result(std::move(*r));
    }
    case kTrim: {
      auto s = input_string();
      if (!s) return {};
      std::string_view v = *s;
      auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; };
      while (!v.empty() && ws(v.front())) v.remove_prefix(1);
      while (!v.empty() && ws(v.back())) v.remove_suffix(1);
      return string_result(std::string(v));
    }
    case kSplit: {
      auto s = input_string();
      auto sep = arg_string(0);
      if (!s || !sep) return {};
      Collection out;
      if (sep->empty()) {
        for (char c : *s) Push(&out, Item::String(std::string(1, c)));
        return out;
      }
      size_t pos = 0;
      for (;;) {
        size_t k = s->find(*sep, pos);
        if (k == std::string_view::npos) break;
        Push(&out, Item::String(std::string(s->substr(pos, k - pos))));
        pos = k + sep->size();
      }
      Push(&out, Item::String(std::string(s->substr(pos))));
      return out;
    }
    case kJoin: {
      std::string sep;
      if (!n.args.empty()) sep = arg_string(0).value_or("");
      std::string out;
      for (size_t i = 0; i < input.size(); ++i) {
        if (input[i].kind() != ValueKind::kString) Fail("join() expects strings");
        if (i) out += sep;
        out += input[i].str();
        if (out.size() > ctx_.limits.max_string_length) Fail("string length limit exceeded");
      }
      return string_result(std::move(out));
    }
    case kAbs: {
      const Item* i = math_input();
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
    case kCeiling:
    case kFloor:
    case kTruncate: {
      const Item* i = math_input();
      if (!i) return {};
      if (i->kind() == ValueKind::kInteger) return One(*i);
      auto d = fn == kCeiling ? i->decimal().Ceil(0)
               : fn == kFloor ? i->decimal().Floor(0)
                              : i->decimal().Truncate(0);
      if (!d || d->units() > INT64_MAX || d->units() < INT64_MIN) return {};
      return One(Item::Integer(static_cast<int64_t>(d->units())));
    }
    case kRound: {
      const Item* i = math_input();
      if (!i) return {};
      int64_t p = 0;
      if (!n.args.empty()) {
        auto a = arg_integer(0);
        if (!a) return {};
        p = *a;
      }
      if (p < 0 || p > Decimal::kMaxScale) Fail("round() precision out of range");
      auto d = AsDecimal(*i)->Rescale(static_cast<int>(p));
      if (!d) return {};
      return One(Item::Dec(*d));
    }
    case kExp:
    case kLn:
    case kSqrt: {
      const Item* i = math_input();
      if (!i) return {};
      double x = AsDecimal(*i)->ToDouble();
      if (fn == kExp) return from_double(std::exp(x));
      if (x < 0 || (fn == kLn && x == 0)) return {};
      return from_double(fn == kLn ? std::log(x) : std::sqrt(x));
    }
    case kLog: {
      const Item* i = math_input();
      const Item* b = Single(args[0], "log()");
      if (!i || !b) return {};
      if (!IsNumeric(*b)) Fail("log() expects a numeric base");
      double x = AsDecimal(*i)->ToDouble(), base = AsDecimal(*b)->ToDouble();
      if (x <= 0 || base <= 0 || base == 1) return {};
      return from_double(std::log(x) / std::log(base));
    }
    case kPower: {
      const Item* i = math_input();
      const Item* e = Single(args[0], "power()");
      if (!i || !e) return {};
      if (!IsNumeric(*e)) Fail("power() expects a numeric exponent");
      if (i->kind() == ValueKind::kInteger && e->kind() == ValueKind::kInteger &&
          e->integer() >= 0) {
        int64_t r = 1;
        for (int64_t k = 0; k < e->integer(); ++k) {
          if (__builtin_mul_overflow(r, i->integer(), &r)) return {};
          if (r == 0 || r == 1) break;
          Step();
        }
        return One(Item::Integer(r));
      }
      double r = std::pow(AsDecimal(*i)->ToDouble(), AsDecimal(*e)->ToDouble());
      if (std::isnan(r)) return {};
      return from_double(r);
    }
    case kChildren: {
      Collection out;
      for (const Item& i : input) Children(i, &out);
      return out;
    }
    case kDescendants: {
      Collection out;
      Collection frontier = whole_input();
      while (!frontier.empty()) {
        Collection next;
        for (const Item& i : frontier) Children(i, &next);
        for (const Item& i : next) Push(&out, i);
        frontier = std::move(next);
      }
      return out;
    }
    case kTrace: {
      if (ctx_.trace) {
        auto name = arg_string(0).value_or("");
        if (n.args.size() > 1) {
          Collection projected;
          for (size_t i = 0; i < input.size(); ++i) {
            for (Item& r : lambda(1, input[i], static_cast<int64_t>(i))) {
              Push(&projected, std::move(r));
            }
          }
          ctx_.trace(name, projected);
        } else {
          ctx_.trace(name, whole_input());
        }
      }
      return whole_input();
    }
    case kNow:
    case kToday:
    case kTimeOfDay: {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.now.time_since_epoch())
                    .count();
      ms += static_cast<int64_t>(LocalOffset()) * 60000;
      int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
      int64_t rem = ms - days * 86400000;
      Temporal t;
      CivilFromDays(days, &t.year, &t.month, &t.day);
      t.hour = static_cast<int8_t>(rem / 3600000);
      t.minute = static_cast<int8_t>(rem / 60000 % 60);
      t.second = static_cast<int8_t>(rem / 1000 % 60);
      t.millisecond = static_cast<int16_t>(rem % 1000);
      if (fn == kToday) {
        t.kind = TemporalKind::kDate;
        t.precision = kDay;
      } else if (fn == kNow) {
        t.kind = TemporalKind::kDateTime;
        t.precision = kMillisecond;
        t.has_tz = true;
        t.tz_minutes = static_cast<int16_t>(LocalOffset());
      } else {
        t.kind = TemporalKind::kTime;
        t.precision = kMillisecond;
      }
      return One(Item::Temp(t));
    }
    case kDefineVariable: {
      auto name = arg_string(0);
      if (!name) Fail("defineVariable() needs a name");
      static const char* const kReserved[] = {"context", "resource", "rootResource",
                                              "ucum",    "sct",      "loinc"};
      for (const char* r : kReserved) {
        if (*name == r) Fail("variable %" + *name + " is already defined");
      }
      for (const auto& d : defined_) {
        if (d.first == *name) Fail("variable %" + *name + " is already defined");
      }
      Collection value = whole_input();
      if (n.args.size() > 1) {
        size_t scope = defined_.size();
        Frame inner = f;
        if (input.size() == 1) inner.this_item = &input[0];
        value = Eval(*n.args[1], input, inner);
        defined_.resize(scope);
      }
      defined_.emplace_back(*name, std::move(value));
      return whole_input();
    }
    case kAggregate: {
      Collection total = n.args.size() > 1 ? args[1] : Collection{};
      for (size_t i = 0; i < input.size(); ++i) {
        Frame inner;
        inner.this_item = &input[i];
        inner.index = static_cast<int64_t>(i);
        inner.total = &total;
        Collection focus{input[i]};
        size_t scope = defined_.size();
        Collection next = Eval(*n.args[0], focus, inner);
        defined_.resize(scope);
        total = std::move(next);
      }
      return total;
    }
    case kSort: {
      struct Key {
        const Node* expr;
        bool descending;
      };
      std::vector<Key> keys;
      for (const auto& a : n.args) {
        if (a->kind == NodeKind::kUnary && a->op == internal::Op::kMinus) {
          keys.push_back({a->args[0].get(), true});
        } else {
          keys.push_back({a.get(), false});
        }
      }
      std::vector<std::vector<Collection>> values(input.size());
      for (size_t i = 0; i < input.size(); ++i) {
        Frame inner;
        inner.this_item = &input[i];
        inner.index = static_cast<int64_t>(i);
        Collection focus{input[i]};
        if (keys.empty()) {
          values[i].push_back(focus);
          continue;
        }
        for (const Key& k : keys) {
          Collection v = Eval(*k.expr, focus, inner);
          if (v.size() > 1) Fail("sort() key must be a single item");
          values[i].push_back(std::move(v));
        }
      }
      std::vector<size_t> order(input.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      auto cmp = [&](size_t x, size_t y) {
        size_t nk = keys.empty() ? 1 : keys.size();
        for (size_t k = 0; k < nk; ++k) {
          const Collection& a = values[x][k];
          const Collection& b = values[y][k];
          bool desc = !keys.empty() && keys[k].descending;
          // Empty keys sort after values ascending, before them descending.
          if (a.empty() != b.empty()) return a.empty() == desc;
          if (a.empty()) continue;
          Step();
          auto c = internal::CompareOrder(a[0], b[0], LocalOffset());
          if (!c || *c == 0) continue;
          return desc ? *c > 0 : *c < 0;
        }
        return false;
      };
      std::stable_sort(order.begin(), order.end(), cmp);
      Collection out;
      for (size_t i : order) Push(&out, input[i]);
      return out;
    }
    case kLowBoundary:
    case kHighBoundary: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      std::optional<int64_t> p;
      if (!n.args.empty()) {
        p = arg_integer(0);
        if (!p) return {};
      }
      bool high = fn == kHighBoundary;
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
      if (i->kind() == ValueKind::kDate || i->kind() == ValueKind::kDateTime ||
          i->kind() == ValueKind::kTime) {
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
      Fail(n.name + "() cannot be applied to " + std::string(i->TypeName()));
    }
    case kPrecisionFn: {
      const Item* i = single("precision()");
      if (!i) return {};
      if (i->kind() == ValueKind::kDecimal) return One(Item::Integer(i->decimal().scale()));
      if (i->kind() == ValueKind::kInteger) return One(Item::Integer(0));
      if (i->kind() == ValueKind::kDate || i->kind() == ValueKind::kDateTime ||
          i->kind() == ValueKind::kTime) {
        return One(Item::Integer(i->temporal().PrecisionDigits()));
      }
      if (auto q = AsQuantity(*i)) return One(Item::Integer(q->value.scale()));
      Fail("precision() cannot be applied to " + std::string(i->TypeName()));
    }
    case kComparable: {
      const Item* i = single("comparable()");
      const Item* o = Single(args[0], "comparable()");
      if (!i || !o) return {};
      auto a = AsQuantity(*i), b = AsQuantity(*o);
      if (!a || !b) Fail("comparable() expects quantities");
      auto ua = UnitOf(*a), ub = UnitOf(*b);
      return Bool(ua && ub && ua->dims == ub->dims);
    }
    case kConformsTo: {
      auto url = arg_string(0);
      if (!url) return {};
      static const std::string kBase = "http://hl7.org/fhir/StructureDefinition/";
      if (url->rfind(kBase, 0) != 0) Fail("unknown profile '" + *url + "'");
      std::string type = url->substr(kBase.size());
      if (!model::FindType(type)) Fail("unknown profile '" + *url + "'");
      const Item* i = single("conformsTo()");
      if (!i) return {};
      return Bool(i->is_model() && model::IsSubtype(i->fhir_type(), type));
    }
    case kNot: {
      auto b = ToLogic(input, "not()");
      if (!b) return {};
      return Bool(!*b);
    }
    case kExtension: {
      auto url = arg_string(0);
      if (!url) return {};
      Collection out;
      for (const Item& i : input) {
        Collection exts;
        Member(i, "extension", &exts);
        for (Item& e : exts) {
          const rapidjson::Value* node = e.node();
          if (!node || !node->IsObject()) continue;
          auto u = node->FindMember("url");
          if (u != node->MemberEnd() && u->value.IsString() &&
              std::string_view(u->value.GetString(), u->value.GetStringLength()) == *url) {
            Push(&out, std::move(e));
          }
        }
      }
      return out;
    }
    case kHasValue: {
      if (input.size() != 1) return Bool(false);
      const Item& i = input[0];
      return Bool(i.is_model() && i.node() && i.kind() != ValueKind::kObject);
    }
    case kGetValue: {
      if (input.size() != 1) return {};
      const Item& i = input[0];
      if (!i.is_model() || !i.node() || i.kind() == ValueKind::kObject) return {};
      auto v = ToSystem(i);
      if (!v) return {};
      return One(*v);
    }
    case kType: {
      Collection out;
      for (const Item& i : input) {
        if (i.is_model()) {
          Push(&out, Item::TypeSpec("FHIR", std::string(i.fhir_type())));
        } else {
          Push(&out, Item::TypeSpec("System", i.SystemTypeName()));
        }
      }
      return out;
    }
    case kSum:
    case kAvg: {
      if (input.empty()) return fn == kSum ? One(Item::Integer(0)) : Collection{};
      Item acc = input[0];
      for (size_t i = 1; i < input.size(); ++i) {
        auto r = Arithmetic(internal::Op::kPlus, acc, input[i]);
        if (!r) return {};
        acc = std::move(*r);
      }
      if (fn == kSum) return One(acc);
      auto r =
          Arithmetic(internal::Op::kDiv, acc, Item::Integer(static_cast<int64_t>(input.size())));
      if (!r) return {};
      return One(*r);
    }
    case kMin:
    case kMax: {
      if (input.empty()) return {};
      const Item* best = &input[0];
      for (size_t i = 1; i < input.size(); ++i) {
        auto c = CompareOrder(input[i], *best, LocalOffset());
        if (!c) return {};
        if ((fn == kMin && *c < 0) || (fn == kMax && *c > 0)) best = &input[i];
      }
      return One(*best);
    }
    case kYearOf:
    case kMonthOf:
    case kDayOf:
    case kHourOf:
    case kMinuteOf:
    case kSecondOf:
    case kMillisecondOf:
    case kTimezoneOffsetOf:
    case kDateOf:
    case kTimeOf: {
      const Item* i = single(n.name.c_str());
      if (!i) return {};
      if (i->kind() != ValueKind::kDate && i->kind() != ValueKind::kDateTime &&
          i->kind() != ValueKind::kTime) {
        Fail(n.name + "() expects a date or time");
      }
      const Temporal& t = i->temporal();
      bool is_time = t.kind == TemporalKind::kTime;
      auto part = [&](int level, int64_t v) -> Collection {
        if (is_time && level < kHour) return {};
        if (t.precision < level) return {};
        return One(Item::Integer(v));
      };
      switch (fn) {
        case kYearOf:
          return part(kYear, t.year);
        case kMonthOf:
          return part(kMonth, t.month);
        case kDayOf:
          return part(kDay, t.day);
        case kHourOf:
          return part(kHour, t.hour);
        case kMinuteOf:
          return part(kMinute, t.minute);
        case kSecondOf:
          return part(kSecond, t.second);
        case kMillisecondOf:
          return part(kMillisecond, t.millisecond);
        case kTimezoneOffsetOf: {
          if (!t.has_tz) return {};
          auto d = Decimal::Div(Decimal::FromInt(t.tz_minutes), Decimal::FromInt(60));
          if (!d) return {};
          return One(Item::Dec(*d));
        }
        case kDateOf: {
          if (is_time) return {};
          auto d = internal::ToTemporal(*i, TemporalKind::kDate);
          if (!d) return {};
          return One(Item::Temp(*d));
        }
        default: {
          if (t.kind != TemporalKind::kDateTime || t.precision < kHour) return {};
          Temporal r = t;
          r.kind = TemporalKind::kTime;
          r.has_tz = false;
          return One(Item::Temp(r));
        }
      }
    }
    case kHtmlChecks:
      return Bool(true);
    case kCoalesce:
      for (Collection& a : args) {
        if (!a.empty()) return a;
      }
      return {};
    default:
      Fail("function " + n.name + "() is not implemented");
  }
}

}  // namespace fhir::fhirpath
