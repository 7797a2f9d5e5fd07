#include "fhir/client/redact.h"

#include <array>
#include <cctype>

namespace fhir::client {

namespace {

constexpr std::string_view kRedacted = "[redacted]";

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool StartsWithNoCase(std::string_view text, size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (Lower(text[at + i]) != word[i]) return false;
  }
  return true;
}

bool WordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Characters a token, credential or header value is made of (RFC 6750 b64token, JWT, Basic).
bool TokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/' || c == '=' || c == '%';
}

}  // namespace

std::string RedactSecrets(std::string_view text) {
  // Names whose value follows after separators (space, quote, ':', '='), and schemes whose
  // credential follows after spaces.
  static constexpr std::array<std::string_view, 6> kNames = {"authorization", "access_token",
                                                             "refresh_token", "id_token",
                                                             "client_secret", "client_assertion"};
  static constexpr std::array<std::string_view, 2> kSchemes = {"bearer", "basic"};
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const bool word_start = i == 0 || !WordChar(text[i - 1]);
    size_t matched = 0;
    bool scheme = false;
    if (word_start) {
      for (std::string_view n : kNames) {
        if (StartsWithNoCase(text, i, n) &&
            (i + n.size() == text.size() || !WordChar(text[i + n.size()]))) {
          matched = n.size();
        }
      }
      for (std::string_view s : kSchemes) {
        if (matched == 0 && StartsWithNoCase(text, i, s) && i + s.size() < text.size() &&
            (text[i + s.size()] == ' ' || text[i + s.size()] == '\t')) {
          matched = s.size();
          scheme = true;
        }
      }
    }
    if (matched == 0) {
      out += text[i++];
      continue;
    }
    out.append(text.substr(i, matched));
    i += matched;
    // Separators: spaces for a scheme; spaces, quotes, ':' and '=' after a name.
    size_t j = i;
    bool assigned = false;  // a name needs ':' or '=' before its value ("authorization failed")
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t' ||
                               (!scheme && (text[j] == '"' || text[j] == '\'' || text[j] == ':' ||
                                            text[j] == '=' || text[j] == '\\')))) {
      assigned = assigned || text[j] == ':' || text[j] == '=';
      ++j;
    }
    if (!scheme && !assigned) continue;
    out.append(text.substr(i, j - i));
    i = j;
    // After an Authorization name the value may itself start with a scheme: skip it too.
    for (std::string_view s : kSchemes) {
      if (!scheme && StartsWithNoCase(text, i, s) && i + s.size() < text.size() &&
          text[i + s.size()] == ' ') {
        out.append(text.substr(i, s.size() + 1));
        i += s.size() + 1;
        while (i < text.size() && text[i] == ' ') out += text[i++];
      }
    }
    size_t end = i;
    while (end < text.size() && TokenChar(text[end])) ++end;
    if (end == i) continue;
    out += kRedacted;  // '[' is not a token character: a second pass keeps it as it is
    i = end;
  }
  return out;
}

}  // namespace fhir::client
