// TextWriter: rapidjson::Writer<StringBuffer> with the same output, byte for byte, written
// faster where the product writes most (issue 17: the ServiceRequest, Task and Flag lines and
// flags.ndjson of every flagged patient). Bookworm's RapidJSON builds without its SIMD string
// scan (fhir/CMakeLists.txt), so Writer::String tests and copies every byte through its escape
// table, and Writer::RawValue copies a pre-serialised value byte by byte. Here a string that
// needs no escape (no byte below 0x20, no '"', no '\\': the only bytes the default Writer
// escapes) is copied with memcpy between its quotes, and a raw value is copied with memcpy;
// anything else goes to Writer::String unchanged. Commas, colons and nesting stay the base
// class's (Prefix / EndValue), so the JSON text is the same. TextWriterTest compares the two.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace fhir::json {

class TextWriter : public rapidjson::Writer<rapidjson::StringBuffer> {
  using Base = rapidjson::Writer<rapidjson::StringBuffer>;

 public:
  explicit TextWriter(rapidjson::StringBuffer& sb) : Base(sb), sb_(&sb) {}
  // Writes the next document into `sb`, keeping this writer's level stack (a new writer
  // allocates one, and its allocator, at its first value).
  void Reset(rapidjson::StringBuffer& sb) {
    Base::Reset(sb);
    sb_ = &sb;
  }

  bool String(const char* s, rapidjson::SizeType n, bool copy = false) {
    if (!Plain(s, n)) return Base::String(s, n, copy);
    Prefix(rapidjson::kStringType);
    char* p = sb_->Push(size_t{n} + 2);
    p[0] = '"';
    if (n > 0) std::memcpy(p + 1, s, n);
    p[n + 1] = '"';
    return EndValue(true);
  }
  bool String(const char* s) { return String(s, static_cast<rapidjson::SizeType>(std::strlen(s))); }
  bool String(const std::string& s) {
    return String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy = false) { return String(s, n, copy); }
  bool Key(const char* s) { return String(s); }
  bool Key(const std::string& s) { return String(s); }
  // A value serialised before (by a Writer), as Writer::RawValue would write it.
  bool RawValue(const char* json, size_t n, rapidjson::Type type) {
    Prefix(type);
    if (n > 0) std::memcpy(sb_->Push(n), json, n);
    return EndValue(true);
  }

  // True when the default Writer would copy `s` unchanged: no byte below 0x20, no '"' and no
  // '\\'. Eight bytes at a time (the classic has-zero-byte / has-less-than tests).
  static bool Plain(const char* s, size_t n) {
    constexpr uint64_t kOnes = 0x0101010101010101ull;
    constexpr uint64_t kHigh = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t v;
      std::memcpy(&v, s + i, 8);
      const uint64_t quote = v ^ (kOnes * '"');
      const uint64_t slash = v ^ (kOnes * '\\');
      // A byte of x is 0 (quote, slash) or below 0x20 (v): (x - k) & ~x has its high bit set.
      const uint64_t hit =
          ((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash) | ((v - kOnes * 0x20) & ~v);
      if ((hit & kHigh) != 0) return false;
    }
    for (; i < n; ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c == '"' || c == '\\') return false;
    }
    return true;
  }

 private:
  rapidjson::StringBuffer* sb_;
};

}  // namespace fhir::json
