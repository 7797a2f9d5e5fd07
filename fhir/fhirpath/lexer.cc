#include "fhir/fhirpath/lexer.h"

#include "fhir/fhirpath/string_codecs.h"

namespace fhir::fhirpath::internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

}  // namespace

bool Lexer::SkipTrivia(std::string* error) {
  while (i_ < src_.size()) {
    char c = src_[i_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
      ++i_;
    } else if (c == '/' && i_ + 1 < src_.size() && src_[i_ + 1] == '/') {
      while (i_ < src_.size() && src_[i_] != '\n') ++i_;
    } else if (c == '/' && i_ + 1 < src_.size() && src_[i_ + 1] == '*') {
      size_t end = src_.find("*/", i_ + 2);
      if (end == std::string_view::npos) {
        *error = "unterminated comment";
        return false;
      }
      i_ = end + 2;
    } else {
      break;
    }
  }
  return true;
}

bool Lexer::ReadEscaped(char quote, std::string* out, std::string* error) {
  ++i_;  // opening quote
  while (i_ < src_.size()) {
    char c = src_[i_];
    if (c == quote) {
      ++i_;
      return true;
    }
    if (c == '\\') {
      if (i_ + 1 >= src_.size()) break;
      char e = src_[i_ + 1];
      i_ += 2;
      switch (e) {
        case '\'':
        case '"':
        case '`':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          auto hex4 = [&](uint32_t* v) {
            if (i_ + 4 > src_.size()) return false;
            *v = 0;
            for (int k = 0; k < 4; ++k) {
              char h = src_[i_ + k];
              *v <<= 4;
              if (IsDigit(h))
                *v |= h - '0';
              else if (h >= 'a' && h <= 'f')
                *v |= h - 'a' + 10;
              else if (h >= 'A' && h <= 'F')
                *v |= h - 'A' + 10;
              else
                return false;
            }
            i_ += 4;
            return true;
          };
          uint32_t cp;
          if (!hex4(&cp)) {
            *error = "bad \\u escape";
            return false;
          }
          if (cp >= 0xD800 && cp < 0xDC00 && i_ + 6 <= src_.size() && src_[i_] == '\\' &&
              src_[i_ + 1] == 'u') {
            i_ += 2;
            uint32_t lo;
            if (!hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) {
              *error = "bad surrogate pair";
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          *error = std::string("unknown escape \\") + e;
          return false;
      }
      continue;
    }
    out->push_back(c);
    ++i_;
  }
  *error = "unterminated literal";
  return false;
}

Token Lexer::Next() {
  Token t;
  std::string error;
  if (!SkipTrivia(&error)) {
    t.type = Tok::kError;
    t.pos = i_;
    t.text = error;
    return t;
  }
  t.pos = i_;
  if (i_ >= src_.size()) return t;
  char c = src_[i_];
  if (IsIdentStart(c)) return Identifier(std::move(t));
  if (c == '`') return Quoted(std::move(t), Tok::kIdentifier, '`');
  if (c == '\'') return Quoted(std::move(t), Tok::kString, '\'');
  if (IsDigit(c)) return Number(std::move(t));
  if (c == '@') return DateTime(std::move(t));
  if (c == '%') return Variable(std::move(t));
  if (c == '$') return Special(std::move(t));
  return Operator(std::move(t));
}

Token Lexer::Error(Token t, std::string message) {
  t.type = Tok::kError;
  t.text = std::move(message);
  return t;
}

Token Lexer::Identifier(Token t) {
  size_t s = i_;
  while (i_ < src_.size() && IsIdentChar(src_[i_])) ++i_;
  t.type = Tok::kIdentifier;
  t.text = std::string(src_.substr(s, i_ - s));
  return t;
}

Token Lexer::Quoted(Token t, Tok type, char quote) {
  t.type = type;
  t.delimited = quote == '`';
  std::string error;
  if (!ReadEscaped(quote, &t.text, &error)) return Error(std::move(t), error);
  return t;
}

Token Lexer::Number(Token t) {
  size_t s = i_;
  while (i_ < src_.size() && IsDigit(src_[i_])) ++i_;
  if (i_ + 1 < src_.size() && src_[i_] == '.' && IsDigit(src_[i_ + 1])) {
    ++i_;
    while (i_ < src_.size() && IsDigit(src_[i_])) ++i_;
  }
  t.type = Tok::kNumber;
  t.text = std::string(src_.substr(s, i_ - s));
  if (i_ < src_.size() && src_[i_] == 'L' && t.text.find('.') == std::string::npos &&
      (i_ + 1 >= src_.size() || !IsIdentChar(src_[i_ + 1]))) {
    ++i_;
    t.type = Tok::kLong;
  }
  return t;
}

bool Lexer::Digits(int n) {
  if (i_ + n > src_.size()) return false;
  for (int k = 0; k < n; ++k) {
    if (!IsDigit(src_[i_ + k])) return false;
  }
  i_ += n;
  return true;
}

bool Lexer::TimePart() {
  if (!Digits(2)) return false;
  if (i_ + 2 < src_.size() && src_[i_] == ':' && IsDigit(src_[i_ + 1])) {
    ++i_;
    if (!Digits(2)) return false;
    if (i_ + 2 < src_.size() && src_[i_] == ':' && IsDigit(src_[i_ + 1])) {
      ++i_;
      if (!Digits(2)) return false;
      if (i_ + 1 < src_.size() && src_[i_] == '.' && IsDigit(src_[i_ + 1])) {
        ++i_;
        while (i_ < src_.size() && IsDigit(src_[i_])) ++i_;
      }
    }
  }
  return true;
}

bool Lexer::TimeZoneFollows() const {
  if (i_ >= src_.size()) return false;
  if (src_[i_] == 'Z') return true;
  return (src_[i_] == '+' || src_[i_] == '-') && i_ + 3 < src_.size() && IsDigit(src_[i_ + 1]) &&
         IsDigit(src_[i_ + 2]) && src_[i_ + 3] == ':';
}

Token Lexer::DateTime(Token t) {
  ++i_;  // '@'
  size_t s = i_;
  if (i_ < src_.size() && src_[i_] == 'T') {
    ++i_;
    size_t ts = i_;
    if (!TimePart()) return Error(std::move(t), "bad time literal");
    if (TimeZoneFollows()) return Error(std::move(t), "a time literal cannot have a time zone");
    t.type = Tok::kTime;
    t.text = std::string(src_.substr(ts, i_ - ts));
    return t;
  }
  if (!Digits(4)) return Error(std::move(t), "bad date literal");
  if (i_ + 2 < src_.size() && src_[i_] == '-' && IsDigit(src_[i_ + 1])) {
    ++i_;
    if (!Digits(2)) return Error(std::move(t), "bad date literal");
    if (i_ + 2 < src_.size() && src_[i_] == '-' && IsDigit(src_[i_ + 1])) {
      ++i_;
      if (!Digits(2)) return Error(std::move(t), "bad date literal");
    }
  }
  if (i_ < src_.size() && src_[i_] == 'T') {
    ++i_;
    if (i_ < src_.size() && IsDigit(src_[i_])) {
      if (!TimePart()) return Error(std::move(t), "bad date-time literal");
    }
    if (i_ < src_.size() && src_[i_] == 'Z') {
      ++i_;
    } else if (TimeZoneFollows()) {
      i_ += 4;
      if (!Digits(2)) return Error(std::move(t), "bad time-zone offset");
    }
  }
  t.type = Tok::kDateTime;
  t.text = std::string(src_.substr(s, i_ - s));
  return t;
}

Token Lexer::Variable(Token t) {
  ++i_;  // '%'
  t.type = Tok::kVariable;
  if (i_ < src_.size() && IsIdentStart(src_[i_])) {
    size_t s = i_;
    while (i_ < src_.size() && IsIdentChar(src_[i_])) ++i_;
    t.text = std::string(src_.substr(s, i_ - s));
    return t;
  }
  if (i_ < src_.size() && (src_[i_] == '`' || src_[i_] == '\'')) {
    std::string error;
    if (!ReadEscaped(src_[i_], &t.text, &error)) return Error(std::move(t), error);
    return t;
  }
  return Error(std::move(t), "bad variable name after %");
}

Token Lexer::Special(Token t) {
  ++i_;  // '$'
  size_t s = i_;
  while (i_ < src_.size() && IsIdentChar(src_[i_])) ++i_;
  t.text = std::string(src_.substr(s, i_ - s));
  if (t.text != "this" && t.text != "index" && t.text != "total") {
    std::string message = "unknown special variable $" + t.text;
    return Error(std::move(t), std::move(message));
  }
  t.type = Tok::kSpecial;
  return t;
}

Token Lexer::Operator(Token t) {
  static const char* const kTwo[] = {"!=", "!~", "<=", ">="};
  for (const char* op : kTwo) {
    if (src_.substr(i_, 2) == op) {
      i_ += 2;
      t.type = Tok::kOp;
      t.text = op;
      return t;
    }
  }
  static const std::string_view kSingle = ".,()[]{}+-*/|&=~<>";
  char c = src_[i_];
  if (kSingle.find(c) != std::string_view::npos) {
    ++i_;
    t.type = Tok::kOp;
    t.text = std::string(1, c);
    return t;
  }
  return Error(std::move(t), std::string("unexpected character '") + c + "'");
}

}  // namespace fhir::fhirpath::internal
