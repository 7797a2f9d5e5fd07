// Request-controlled text on its way into a log line (issue 13 #13: a /notify focus reference
// with a newline forged a `watch:` line). One line out, whatever comes in.
#pragma once

#include <string>
#include <string_view>

namespace sdoh::service {

// `text` with backslash, control bytes (0x00-0x1F, 0x7F) and non-ASCII bytes written as `\\`
// and `\xNN`, so it can neither break a line nor smuggle terminal escapes.
inline std::string EscapeForLog(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace sdoh::service
