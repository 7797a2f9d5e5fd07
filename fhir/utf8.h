// Well-formed UTF-8 (RFC 3629, Unicode's table 3-7): what the line parser's fast path checks a
// line against (fhir/json.cc) and what Printable keeps (fhir/printable.cc).
#pragma once

#include <cstddef>
#include <string_view>

namespace fhir {

// Length of the well-formed UTF-8 sequence at s[i] (no overlong forms, no surrogates, at most
// U+10FFFF, not cut short by the end of `s`), 0 when there is none. REQUIRES: i < s.size().
inline size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the first continuation byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace fhir
