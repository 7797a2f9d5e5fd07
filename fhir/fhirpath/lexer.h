// Internal: FHIRPath tokenizer (FHIRPath 2.0 grammar, lexical rules).
// Skips whitespace and comments (// and /* */), decodes string and delimited-identifier
// escapes, and keeps date/time literals as text for the parser.
#ifndef SDOH_FHIR_FHIRPATH_LEXER_H_
#define SDOH_FHIR_FHIRPATH_LEXER_H_

#include <string>
#include <string_view>

namespace fhir::fhirpath::internal {

enum class Tok : uint8_t {
  kEnd,
  kIdentifier,  // plain (may be a keyword) or `delimited`
  kString,      // 'text' (decoded)
  kNumber,      // 12, 1.5
  kLong,        // 12L
  kDateTime,    // @2015-02-04T14:34 (text without '@'), kind decided by the parser
  kTime,        // @T14:34 (text without "@T")
  kVariable,    // %name, %`name`, %'name' (decoded name)
  kSpecial,     // $this, $index, $total (text without '$')
  kOp,          // punctuation and operators
  kError,
};

struct Token {
  Tok type = Tok::kEnd;
  std::string text;
  size_t pos = 0;
  bool delimited = false;  // `identifier`
};

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}
  // Next token; on a lexical error returns Tok::kError with text = message.
  Token Next();
  // True if only whitespace separates the previous token from the next one.
  size_t offset() const { return i_; }

 private:
  bool SkipTrivia(std::string* error);
  bool ReadEscaped(char quote, std::string* out, std::string* error);

  // One token class each, from the current character on. REQUIRES: t.pos is set and the
  // current character starts a token of that class (Operator: any other character).
  Token Identifier(Token t);                    // name
  Token Quoted(Token t, Tok type, char quote);  // `identifier`, 'string'
  Token Number(Token t);                        // 12, 1.5, 12L
  Token DateTime(Token t);                      // @2015-02-04T14:34+01:00, @T14:34
  Token Variable(Token t);                      // %name, %`name`, %'name'
  Token Special(Token t);                       // $this, $index, $total
  Token Operator(Token t);                      // punctuation and operators
  static Token Error(Token t, std::string message);

  // Date/time literal parts. Digits and TimePart advance past what they read (also when
  // they fail); TimeZoneFollows only looks.
  bool Digits(int n);            // exactly n digits
  bool TimePart();               // hh[:mm[:ss[.fff]]]
  bool TimeZoneFollows() const;  // 'Z' or +hh: / -hh: at the current position

  std::string_view src_;
  size_t i_ = 0;
};

}  // namespace fhir::fhirpath::internal

#endif  // SDOH_FHIR_FHIRPATH_LEXER_H_
