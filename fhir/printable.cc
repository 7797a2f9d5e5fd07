#include "fhir/printable.h"

#include "fhir/utf8.h"

namespace fhir {

namespace {

void AppendHex(std::string* out, unsigned char c) {
  static const char kHex[] = "0123456789abcdef";
  out->append("\\x");
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 15]);
}

}  // namespace

std::string Printable(std::string_view s, size_t max_bytes) {
  const bool cut = s.size() > max_bytes;
  if (cut) s = s.substr(0, max_bytes);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) {
        AppendHex(&out, c);
      } else if (c == '\\') {
        out.append("\\\\");
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    const size_t n = Utf8Length(s, i);
    // C1 controls (U+0080..U+009F) are C2 80..C2 9F.
    if (n == 0 || (c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)) {
      const size_t k = n == 0 ? 1 : n;
      for (size_t j = 0; j < k; ++j) AppendHex(&out, static_cast<unsigned char>(s[i + j]));
      i += k;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  if (cut) out.append("…");
  return out;
}

}  // namespace fhir
