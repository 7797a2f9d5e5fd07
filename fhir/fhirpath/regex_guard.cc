#include "fhir/fhirpath/regex_guard.h"

#include <string>
#include <vector>

#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath::internal {
namespace {

// std::regex backtracks recursively; this bound (with kMaxRegexInput) keeps it off the stack
// limit.
constexpr size_t kMaxRegexPattern = 1024;

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

}  // namespace

std::regex MakeRegex(std::string_view pattern, size_t input_length) {
  if (pattern.size() > kMaxRegexPattern) Fail("regular expression too long");
  CheckRegexCost(pattern, input_length);
  try {
    return std::regex(DotAll(pattern), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    Fail("invalid regular expression '" + std::string(pattern) + "'");
  }
}

}  // namespace fhir::fhirpath::internal
