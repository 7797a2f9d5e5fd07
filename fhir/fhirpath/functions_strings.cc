// String functions (FHIRPath §5.6, and the 2.1 additions: encode/decode/escape/unescape,
// trim, split, join, matchesFull). Results are bounded by EvalContext::limits.
#include <algorithm>

#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/operations.h"
#include "fhir/fhirpath/regex_guard.h"
#include "fhir/fhirpath/string_codecs.h"

namespace fhir::fhirpath::internal {
namespace {

// indexOf(), lastIndexOf(): -1 when absent.
Collection IndexOf(FunctionCall& c) {
  auto s = c.InputString();
  auto sub = c.ArgString(0);
  if (!s || !sub) return {};
  size_t p = c.fn == kIndexOf ? s->find(*sub) : s->rfind(*sub);
  return One(Item::Integer(p == std::string_view::npos ? -1 : static_cast<int64_t>(p)));
}

Collection Substring(FunctionCall& c) {
  auto s = c.InputString();
  auto start = c.ArgInteger(0);
  if (!s || !start) return {};
  if (*start < 0 || static_cast<size_t>(*start) >= s->size()) return {};
  size_t len = s->size() - static_cast<size_t>(*start);
  if (c.node.args.size() > 1) {
    auto l = c.ArgInteger(1);
    if (l) {
      if (*l < 0) return c.StringResult("");
      len = std::min(len, static_cast<size_t>(*l));
    }
  }
  return c.StringResult(std::string(s->substr(static_cast<size_t>(*start), len)));
}

// startsWith(), endsWith(), contains().
Collection HasSubstring(FunctionCall& c) {
  auto s = c.InputString();
  auto sub = c.ArgString(0);
  if (!s || !sub) return {};
  if (c.fn == kStartsWith) return Bool(s->substr(0, sub->size()) == *sub);
  if (c.fn == kEndsWith) {
    return Bool(s->size() >= sub->size() && s->substr(s->size() - sub->size()) == *sub);
  }
  return Bool(s->find(*sub) != std::string_view::npos);
}

// upper(), lower(): ASCII letters only.
Collection ChangeCase(FunctionCall& c) {
  auto s = c.InputString();
  if (!s) return {};
  std::string r(*s);
  for (char& ch : r) {
    if (c.fn == kUpper && ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 32);
    if (c.fn == kLower && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
  }
  return c.StringResult(std::move(r));
}

// replace(pattern, substitution): literal; an empty pattern surrounds every character.
Collection Replace(FunctionCall& c) {
  auto s = c.InputString();
  auto pat = c.ArgString(0);
  auto rep = c.ArgString(1);
  if (!s || !pat || !rep) return {};
  const size_t limit = c.context().limits.max_string_length;
  std::string out;
  if (pat->empty()) {
    out = *rep;
    for (char ch : *s) {
      out.push_back(ch);
      out += *rep;
      if (out.size() > limit) Fail("string length limit exceeded");
    }
    return c.StringResult(std::move(out));
  }
  size_t pos = 0;
  for (;;) {
    size_t k = s->find(*pat, pos);
    if (k == std::string_view::npos) break;
    out.append(s->substr(pos, k - pos));
    out += *rep;
    if (out.size() > limit) Fail("string length limit exceeded");
    pos = k + pat->size();
  }
  out.append(s->substr(pos));
  return c.StringResult(std::move(out));
}

// matches() (anywhere in the string), matchesFull() (the whole string).
Collection Matches(FunctionCall& c) {
  auto s = c.InputString();
  auto pat = c.ArgString(0);
  if (!s || !pat) return {};
  if (s->size() > kMaxRegexInput) Fail("string too long for a regular expression");
  std::regex re = MakeRegex(*pat, s->size());
  c.Step(s->size() * (pat->size() + 1));
  if (c.fn == kMatchesFull) return Bool(std::regex_match(s->begin(), s->end(), re));
  return Bool(std::regex_search(s->begin(), s->end(), re));
}

Collection ReplaceMatches(FunctionCall& c) {
  auto s = c.InputString();
  auto pat = c.ArgString(0);
  auto rep = c.ArgString(1);
  if (!s || !pat || !rep) return {};
  if (pat->empty()) return c.StringResult(std::string(*s));
  if (s->size() > kMaxRegexInput) Fail("string too long for a regular expression");
  std::regex re = MakeRegex(*pat, s->size());
  c.Step(s->size() * (pat->size() + 1));
  return c.StringResult(std::regex_replace(std::string(*s), re, *rep));
}

Collection Length(FunctionCall& c) {
  auto s = c.InputString();
  if (!s) return {};
  return One(Item::Integer(static_cast<int64_t>(s->size())));
}

// toChars(): one String per UTF-8 character (by its lead byte).
Collection ToChars(FunctionCall& c) {
  auto s = c.InputString();
  if (!s) return {};
  Collection out;
  for (size_t i = 0; i < s->size();) {
    size_t len = 1;
    unsigned char ch = static_cast<unsigned char>((*s)[i]);
    if (ch >= 0xF0)
      len = 4;
    else if (ch >= 0xE0)
      len = 3;
    else if (ch >= 0xC0)
      len = 2;
    len = std::min(len, s->size() - i);
    c.Push(&out, Item::String(std::string(s->substr(i, len))));
    i += len;
  }
  return out;
}

// encode(), decode(), escape(), unescape() (string_codecs.h); empty for an unknown format.
Collection Codec(FunctionCall& c) {
  auto s = c.InputString();
  auto format = c.ArgString(0);
  if (!s || !format) return {};
  std::optional<std::string> r;
  if (c.fn == kEncode) r = Encode(*s, *format);
  if (c.fn == kDecode) r = Decode(*s, *format);
  if (c.fn == kEscape) r = Escape(*s, *format);
  if (c.fn == kUnescape) r = Unescape(*s, *format);
  if (!r) return {};
  return c.StringResult(std::move(*r));
}

Collection Trim(FunctionCall& c) {
  auto s = c.InputString();
  if (!s) return {};
  std::string_view v = *s;
  auto ws = [](char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
  };
  while (!v.empty() && ws(v.front())) v.remove_prefix(1);
  while (!v.empty() && ws(v.back())) v.remove_suffix(1);
  return c.StringResult(std::string(v));
}

// split(separator): an empty separator gives every character (byte).
Collection Split(FunctionCall& c) {
  auto s = c.InputString();
  auto sep = c.ArgString(0);
  if (!s || !sep) return {};
  Collection out;
  if (sep->empty()) {
    for (char ch : *s) c.Push(&out, Item::String(std::string(1, ch)));
    return out;
  }
  size_t pos = 0;
  for (;;) {
    size_t k = s->find(*sep, pos);
    if (k == std::string_view::npos) break;
    c.Push(&out, Item::String(std::string(s->substr(pos, k - pos))));
    pos = k + sep->size();
  }
  c.Push(&out, Item::String(std::string(s->substr(pos))));
  return out;
}

Collection Join(FunctionCall& c) {
  std::string sep;
  if (!c.node.args.empty()) sep = c.ArgString(0).value_or("");
  std::string out;
  for (size_t i = 0; i < c.input.size(); ++i) {
    if (c.input[i].kind() != ValueKind::kString) Fail("join() expects strings");
    if (i) out += sep;
    out += c.input[i].str();
    if (out.size() > c.context().limits.max_string_length) {
      Fail("string length limit exceeded");
    }
  }
  return c.StringResult(std::move(out));
}

}  // namespace

Collection CallStringFunction(FunctionCall& c) {
  switch (c.fn) {
    case kIndexOf:
    case kLastIndexOf:
      return IndexOf(c);
    case kSubstring:
      return Substring(c);
    case kStartsWith:
    case kEndsWith:
    case kContainsFn:
      return HasSubstring(c);
    case kUpper:
    case kLower:
      return ChangeCase(c);
    case kReplace:
      return Replace(c);
    case kMatches:
    case kMatchesFull:
      return Matches(c);
    case kReplaceMatches:
      return ReplaceMatches(c);
    case kLength:
      return Length(c);
    case kToChars:
      return ToChars(c);
    case kEncode:
    case kDecode:
    case kEscape:
    case kUnescape:
      return Codec(c);
    case kTrim:
      return Trim(c);
    case kSplit:
      return Split(c);
    case kJoin:
      return Join(c);
    default:
      NotImplemented(c);
  }
}

}  // namespace fhir::fhirpath::internal
