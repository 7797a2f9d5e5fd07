// Small, allocation-free accessors over RapidJSON values, and a line parser that parses one
// NDJSON line in place with a nesting limit. Every accessor tolerates wrong JSON types: a
// member of the wrong type reads as absent, so callers never assert on input shape.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "fhir/status.h"

namespace fhir::json {

// The member `name` of `obj`, or nullptr when obj is not an object or has no such member.
const rapidjson::Value* Member(const rapidjson::Value& obj, std::string_view name);
// The string value, or empty when `v` is null or not a string.
std::string_view Str(const rapidjson::Value* v);
// Member string, empty when absent or not a string.
inline std::string_view StrMember(const rapidjson::Value& obj, std::string_view name) {
  return Str(Member(obj, name));
}
// The member as an array, or nullptr when absent or not an array.
const rapidjson::Value* ArrayMember(const rapidjson::Value& obj, std::string_view name);
// True when the member exists and is the boolean `true`.
bool IsTrue(const rapidjson::Value& obj, std::string_view name);
// True when the member exists and is the boolean `false`.
bool IsFalse(const rapidjson::Value& obj, std::string_view name);

// The id in a reference to `type`: the segment after the last "<type>/" in `reference`
// (relative "Patient/1", absolute "https://x/fhir/Patient/1", versioned
// ".../Patient/1/_history/2"). Empty when the reference does not name that type or the id is empty.
std::string_view ReferenceId(std::string_view reference, std::string_view type);

// Why a line could not be parsed; stable names used as skip reasons in summaries.
enum class ParseFailure { kNone, kMalformed, kInvalidUtf8, kTooDeep, kNulByte };
std::string_view ParseFailureName(ParseFailure f);

// Parses one JSON text in place (ParseInsitu, UTF-8 validation, a nesting limit) into a
// document whose allocator is reused from line to line. A line of well-formed UTF-8 (checked
// whole, eight ASCII bytes at a time) is parsed first by RapidJSON's recursive parse without its
// character-by-character UTF-8 check; every other line, and every line that parse does not
// accept whole, by the strict parse (kFlags: UTF-8 validation, iterative parsing), which alone
// decides what a bad line is called. Normal number precision, not kParseFullPrecisionFlag:
// RapidJSON 1.1's full-precision path has undefined behaviour on a zero with a large exponent
// ("0e92", found by fuzzing); normal precision is exact for the short decimals of screenings
// and within 3 ULP past 15 significant digits.
// Not thread-safe: one parser per thread. The document stays valid until the next Parse and
// points into the caller's buffer (which must outlive its use).
class LineParser {
 public:
  static constexpr unsigned kFlags = rapidjson::kParseInsituFlag |
                                     rapidjson::kParseValidateEncodingFlag |
                                     rapidjson::kParseIterativeFlag;
  // The fast path (json.cc): a line of well-formed UTF-8 of at most kFastMaxLine bytes, under
  // a nesting limit of at most kFastMaxDepth levels (the recursion's bound), parsed first
  // without RapidJSON's UTF-8 check and recursively; every other line, and every line that path
  // does not accept, strictly.
  static constexpr unsigned kFastFlags = rapidjson::kParseInsituFlag;
  static constexpr size_t kFastMaxDepth = 256;
  static constexpr size_t kFastMaxLine = size_t{1} << 20;

  explicit LineParser(size_t max_depth);
  LineParser(const LineParser&) = delete;
  LineParser& operator=(const LineParser&) = delete;

  // REQUIRES: text[len] == '\0'. Modifies text. On failure, `error` says what and where.
  ParseFailure Parse(char* text, size_t len, std::string* error);
  const rapidjson::Document& document() const { return doc_; }

  // The same parse into `doc` (its allocator, its lifetime): what a thread parsing many lines
  // ahead of their use calls (fhir/ndjson_parallel.h). REQUIRES: `doc` is null; it stays null
  // on failure.
  static ParseFailure ParseInto(char* text, size_t len, size_t max_depth, rapidjson::Document* doc,
                                std::string* error);
  // The strict parse alone (kFlags for every line, no fast path): what ParseInto must agree
  // with on every line, for the tests that hold it to that and the benchmark.
  static ParseFailure ParseStrictInto(char* text, size_t len, size_t max_depth,
                                      rapidjson::Document* doc, std::string* error);

 private:
  static constexpr size_t kUserBufferSize = 256 * 1024;
  size_t max_depth_;
  std::unique_ptr<char[]> user_buffer_;
  rapidjson::MemoryPoolAllocator<> pool_;
  rapidjson::Document doc_;
};

// Parses a whole JSON text (not in place) into `doc` — iterative (no recursion, whatever the
// nesting), UTF-8 validated, RapidJSON's normal number precision — refusing nesting deeper than
// `max_depth`. For bodies from the network (server responses, service requests):
// a recursive parse or a recursive walk of a deeply nested document would overflow the stack.
// On failure `error` (when set) says what and where; `doc` is then unusable.
ParseFailure ParseDocument(std::string_view text, size_t max_depth, rapidjson::Document* doc,
                           std::string* error = nullptr);
// The nesting ParseDocument allows in bodies from the network: far above any FHIR resource's
// (a QuestionnaireResponse's items stop at 32 levels), far below what a recursive walk of the
// document (serialising, copying) can take on a thread's stack.
inline constexpr size_t kNetworkMaxDepth = 256;

}  // namespace fhir::json
