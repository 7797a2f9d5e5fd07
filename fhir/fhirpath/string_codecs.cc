#include "fhir/fhirpath/string_codecs.h"

#include <cstdint>
#include <cstdio>

namespace fhir::fhirpath {
namespace {

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64(std::string_view s, bool url) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    uint32_t v = static_cast<unsigned char>(s[i]) << 16;
    size_t n = std::min<size_t>(3, s.size() - i);
    if (n > 1) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    if (n > 2) v |= static_cast<unsigned char>(s[i + 2]);
    for (size_t k = 0; k < 4; ++k) {
      if (k <= n) {
        char c = kB64[(v >> (18 - 6 * k)) & 63];
        if (url && c == '+') c = '-';
        if (url && c == '/') c = '_';
        out.push_back(c);
      } else {
        out.push_back('=');
      }
    }
    i += 3;
  }
  return out;
}

std::optional<std::string> Unbase64(std::string_view s) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=')
      break;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x110000) {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::optional<std::string> Encode(std::string_view s, std::string_view format) {
  if (format == "base64") return Base64(s, false);
  if (format == "urlbase64") return Base64(s, true);
  if (format == "hex") {
    std::string out;
    char buf[3];
    for (char c : s) {
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(c));
      out += buf;
    }
    return out;
  }
  return std::nullopt;
}

std::optional<std::string> Decode(std::string_view s, std::string_view format) {
  if (format == "base64" || format == "urlbase64") return Unbase64(s);
  if (format == "hex") {
    if (s.size() % 2) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < s.size(); i += 2) {
      int a = HexValue(s[i]), b = HexValue(s[i + 1]);
      if (a < 0 || b < 0) return std::nullopt;
      out.push_back(static_cast<char>(a * 16 + b));
    }
    return out;
  }
  return std::nullopt;
}

std::optional<std::string> Escape(std::string_view s, std::string_view format) {
  std::string out;
  if (format == "html") {
    for (char c : s) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out.push_back(c);
      }
    }
    return out;
  }
  if (format == "json") {
    for (char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\b':
          out += "\\b";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(c);
          }
      }
    }
    return out;
  }
  return std::nullopt;
}

std::optional<std::string> Unescape(std::string_view s, std::string_view format) {
  std::string out;
  if (format == "html") {
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '&') {
        out.push_back(s[i]);
        continue;
      }
      size_t semi = s.find(';', i);
      if (semi == std::string_view::npos || semi - i > 10) {
        out.push_back(s[i]);
        continue;
      }
      std::string_view ent = s.substr(i + 1, semi - i - 1);
      if (ent == "amp")
        out.push_back('&');
      else if (ent == "lt")
        out.push_back('<');
      else if (ent == "gt")
        out.push_back('>');
      else if (ent == "quot")
        out.push_back('"');
      else if (ent == "apos")
        out.push_back('\'');
      else if (!ent.empty() && ent[0] == '#') {
        uint32_t cp = 0;
        bool hex = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X');
        for (size_t k = hex ? 2 : 1; k < ent.size(); ++k) {
          int v = hex ? HexValue(ent[k]) : (ent[k] >= '0' && ent[k] <= '9' ? ent[k] - '0' : -1);
          if (v < 0 || cp > 0x10FFFF) return std::nullopt;
          cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        }
        AppendUtf8(cp, &out);
      } else {
        out.append(s.substr(i, semi - i + 1));
      }
      i = semi;
    }
    return out;
  }
  if (format == "json") {
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\' || i + 1 >= s.size()) {
        out.push_back(s[i]);
        continue;
      }
      char e = s[++i];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'u': {
          if (i + 4 >= s.size()) return std::nullopt;
          uint32_t cp = 0;
          for (size_t k = 1; k <= 4; ++k) {
            int v = HexValue(s[i + k]);
            if (v < 0) return std::nullopt;
            cp = cp * 16 + static_cast<uint32_t>(v);
          }
          i += 4;
          AppendUtf8(cp, &out);
          break;
        }
        default:
          out.push_back(e);
      }
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace fhir::fhirpath
