#include "fhir/json.h"

#include <cstdint>
#include <cstring>
#include <memory>

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "fhir/utf8.h"

// RapidJSON 1.1.0's SIMD string scans (writer.h, reader.h) test "byte <= 0x19" for a control
// character: its Writer leaves 0x1A-0x1F unescaped and its reader lets them through raw at
// some offsets (issue 13 #5). fhir/CMakeLists.txt does not define these; nothing may.
#if defined(RAPIDJSON_SSE2) || defined(RAPIDJSON_SSE42)
#error "RAPIDJSON_SSE2/RAPIDJSON_SSE42 break RapidJSON 1.1.0's control-character escaping"
#endif

namespace fhir::json {

const rapidjson::Value* Member(const rapidjson::Value& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  // FindMember without building a temporary Value; length and first byte before memcmp.
  for (const auto& m : obj.GetObject()) {
    if (m.name.GetStringLength() == name.size() && !name.empty() &&
        m.name.GetString()[0] == name[0] &&
        std::memcmp(m.name.GetString(), name.data(), name.size()) == 0) {
      return &m.value;
    }
    if (name.empty() && m.name.GetStringLength() == 0) return &m.value;
  }
  return nullptr;
}

std::string_view Str(const rapidjson::Value* v) {
  if (v == nullptr || !v->IsString()) return {};
  return {v->GetString(), v->GetStringLength()};
}

const rapidjson::Value* ArrayMember(const rapidjson::Value& obj, std::string_view name) {
  const rapidjson::Value* v = Member(obj, name);
  return v != nullptr && v->IsArray() ? v : nullptr;
}

bool IsTrue(const rapidjson::Value& obj, std::string_view name) {
  const rapidjson::Value* v = Member(obj, name);
  return v != nullptr && v->IsBool() && v->GetBool();
}

bool IsFalse(const rapidjson::Value& obj, std::string_view name) {
  const rapidjson::Value* v = Member(obj, name);
  return v != nullptr && v->IsBool() && !v->GetBool();
}

std::string_view ReferenceId(std::string_view reference, std::string_view type) {
  // The last "<type>/" that starts a path segment: walk the '/' separators from the right and
  // test the segment before each (one memchr-like scan instead of a substring search).
  const size_t n = type.size();
  size_t pos = std::string_view::npos;
  for (size_t slash = reference.size(); slash-- > 0;) {
    if (reference[slash] != '/' || slash < n) continue;
    const size_t p = slash - n;
    if ((p == 0 || reference[p - 1] == '/') && reference.compare(p, n, type) == 0) {
      pos = p;
      break;
    }
  }
  if (pos == std::string_view::npos) return {};
  std::string_view id = reference.substr(pos + n + 1);
  size_t slash = id.find('/');
  if (slash != std::string_view::npos) id = id.substr(0, slash);
  return id;
}

std::string_view ParseFailureName(ParseFailure f) {
  switch (f) {
    case ParseFailure::kNone:
      return "none";
    case ParseFailure::kMalformed:
      return "malformed-json";
    case ParseFailure::kInvalidUtf8:
      return "invalid-utf8";
    case ParseFailure::kTooDeep:
      return "too-deep";
    case ParseFailure::kNulByte:
      return "nul-byte";
  }
  return "unknown";
}

namespace {

// Forwards SAX events to the document, refusing to go deeper than max_depth.
struct DepthLimitedHandler {
  rapidjson::Document& doc;
  size_t max_depth;
  size_t depth = 0;
  bool exceeded = false;

  bool Null() { return doc.Null(); }
  bool Bool(bool b) { return doc.Bool(b); }
  bool Int(int i) { return doc.Int(i); }
  bool Uint(unsigned u) { return doc.Uint(u); }
  bool Int64(int64_t i) { return doc.Int64(i); }
  bool Uint64(uint64_t u) { return doc.Uint64(u); }
  bool Double(double d) { return doc.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return doc.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc.Key(s, n, copy); }
  bool StartObject() { return Enter() && doc.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth;
    return doc.EndObject(n);
  }
  bool StartArray() { return Enter() && doc.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth;
    return doc.EndArray(n);
  }
  bool Enter() {
    if (++depth > max_depth) {
      exceeded = true;
      return false;
    }
    return true;
  }
};

template <unsigned kParseFlags>
struct InsituGenerator {
  char* text;
  size_t max_depth;
  rapidjson::ParseResult result;
  bool too_deep = false;
  size_t stopped_at = 0;  // where the parse ended (the NUL it stopped at)
  bool operator()(rapidjson::Document& doc) {
    rapidjson::InsituStringStream is(text);
    // One reader a thread: its state stack is allocated once, not once a line (Parse resets
    // the reader; its stack is cleared on the way out, keeping its capacity).
    thread_local rapidjson::Reader reader;
    DepthLimitedHandler handler{doc, max_depth};
    result = reader.Parse<kParseFlags>(is, handler);
    too_deep = handler.exceeded;
    stopped_at = is.Tell();
    return !result.IsError();
  }
};

// True when no byte of text[0, len) is above 0x7F. Eight bytes at a time, no branch but the
// loop's.
bool IsAscii(const char* text, size_t len) {
  uint64_t any = 0;
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    uint64_t w[4];
    std::memcpy(w, text + i, 32);
    any |= w[0] | w[1] | w[2] | w[3];
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, text + i, 8);
    any |= w;
  }
  for (; i < len; ++i) any |= static_cast<unsigned char>(text[i]);
  return (any & 0x8080808080808080ull) == 0;
}

// True when text[0, len) is well-formed UTF-8 (Unicode's table 3-7: no overlong forms, no
// surrogates, nothing above U+10FFFF, no truncated sequence) — the sequences RapidJSON's
// UTF8::Validate accepts. A line that is, has only sequences the strict parse accepts in its
// strings (a string starts and ends at an ASCII quote, so no sequence crosses its ends).
bool IsValidUtf8(const char* text, size_t len) {
  if (IsAscii(text, len)) return true;
  const std::string_view s(text, len);
  for (size_t i = 0; i < len;) {
    const size_t n = Utf8Length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

struct StringGenerator {
  std::string_view text;
  size_t max_depth;
  rapidjson::ParseResult result;
  bool too_deep = false;
  bool operator()(rapidjson::Document& doc) {
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    rapidjson::Reader reader;
    DepthLimitedHandler handler{doc, max_depth};
    // Not kParseFullPrecisionFlag: RapidJSON 1.1's full-precision strtod calls
    // __builtin_clzll(0) for a zero significand with a large exponent ("0e92"; undefined
    // behaviour, found by fuzz_fhir_response and fuzz_cds_request). Normal precision is within
    // 3 ULP only past 15 significant digits.
    constexpr unsigned kFlags =
        rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;
    result = reader.Parse<kFlags>(is, handler);
    too_deep = handler.exceeded;
    return !result.IsError();
  }
};

ParseFailure Describe(const rapidjson::ParseResult& result, bool too_deep, size_t max_depth,
                      std::string* error) {
  if (!result.IsError()) return ParseFailure::kNone;
  if (too_deep) {
    if (error) *error = "nesting deeper than " + std::to_string(max_depth) + " levels";
    return ParseFailure::kTooDeep;
  }
  if (error) {
    *error = std::string(rapidjson::GetParseError_En(result.Code())) + " at offset " +
             std::to_string(result.Offset());
  }
  return result.Code() == rapidjson::kParseErrorStringInvalidEncoding ? ParseFailure::kInvalidUtf8
                                                                      : ParseFailure::kMalformed;
}

}  // namespace

ParseFailure ParseDocument(std::string_view text, size_t max_depth, rapidjson::Document* doc,
                           std::string* error) {
  StringGenerator gen{text, max_depth, {}};
  doc->Populate(gen);
  return Describe(gen.result, gen.too_deep, max_depth, error);
}

LineParser::LineParser(size_t max_depth)
    : max_depth_(max_depth),
      user_buffer_(new char[kUserBufferSize]),
      pool_(user_buffer_.get(), kUserBufferSize),
      doc_(&pool_) {}

ParseFailure LineParser::Parse(char* text, size_t len, std::string* error) {
  doc_.SetNull();
  pool_.Clear();
  return ParseInto(text, len, max_depth_, &doc_, error);
}

namespace {

// The strict parse (LineParser::kFlags) and what its result means: the product's parse of every
// line before the fast path below, and still what decides every line that path does not take.
ParseFailure ParseStrict(char* text, size_t len, size_t max_depth, rapidjson::Document* doc,
                         std::string* error) {
  // An in-situ parse ends at the first NUL. No extra pass looks for one: a parse that succeeds
  // before the line's end stopped at a NUL (the rest of the line would be lost silently), and
  // a parse that fails does so at the NUL it met (RapidJSON only writes behind its read
  // position, so the byte there is the original one).
  InsituGenerator<LineParser::kFlags> gen{text, max_depth, {}};
  doc->Populate(gen);
  const size_t at = gen.result.IsError() ? gen.result.Offset() : gen.stopped_at;
  if (at < len && text[at] == '\0' && !gen.too_deep) {
    doc->SetNull();
    if (error) *error = "NUL byte at offset " + std::to_string(at);
    return ParseFailure::kNulByte;
  }
  if (!gen.result.IsError()) return ParseFailure::kNone;
  if (gen.too_deep) {
    if (error) *error = "nesting deeper than " + std::to_string(max_depth) + " levels";
    return ParseFailure::kTooDeep;
  }
  if (error) {
    *error = std::string(rapidjson::GetParseError_En(gen.result.Code())) + " at offset " +
             std::to_string(gen.result.Offset());
  }
  return gen.result.Code() == rapidjson::kParseErrorStringInvalidEncoding
             ? ParseFailure::kInvalidUtf8
             : ParseFailure::kMalformed;
}

}  // namespace

ParseFailure LineParser::ParseInto(char* text, size_t len, size_t max_depth,
                                   rapidjson::Document* doc, std::string* error) {
  // The fast path (issue 17): a line of well-formed UTF-8 needs no validation of its strings
  // character by character (half of the strict parse's time), and RapidJSON's recursive parse
  // is cheaper than its iterative one; with the handler refusing to go deeper than max_depth,
  // the recursion is bounded by it. A line it parses whole is a line the strict parse accepts
  // into the same document (the same SAX events: validation only rejects, and both grammars
  // are JSON's). Any other outcome (an error, a NUL before the line's end) restores the line's
  // bytes from a copy and leaves the verdict, its kind and its message to the strict parse, so
  // that what a bad line is called does not depend on the path. The copy is one memcpy of the
  // line, in cache.
  if (max_depth <= kFastMaxDepth && len <= kFastMaxLine && IsValidUtf8(text, len)) {
    thread_local std::string pristine;
    pristine.assign(text, len);
    InsituGenerator<kFastFlags> gen{text, max_depth, {}};
    doc->Populate(gen);
    if (!gen.result.IsError() && gen.stopped_at == len) return ParseFailure::kNone;
    doc->SetNull();
    std::memcpy(text, pristine.data(), len);
  }
  return ParseStrict(text, len, max_depth, doc, error);
}

ParseFailure LineParser::ParseStrictInto(char* text, size_t len, size_t max_depth,
                                         rapidjson::Document* doc, std::string* error) {
  return ParseStrict(text, len, max_depth, doc, error);
}

}  // namespace fhir::json
