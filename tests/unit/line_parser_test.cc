// fhir::json::LineParser's fast path (issue 17): a line of well-formed UTF-8 is parsed first
// without RapidJSON's character-by-character UTF-8 check and recursively; a line that parse does
// not accept whole goes to the strict parse on its original bytes. Whatever the line, ParseInto
// must give exactly what the strict parse gives: the same verdict, the same message and the same
// document.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"

namespace fhir::json {
namespace {

// Everything a reader of the parsed line can see, as one string.
std::string Outcome(ParseFailure f, const std::string& error, const rapidjson::Document& doc) {
  std::string s(ParseFailureName(f));
  if (f != ParseFailure::kNone) return s + " " + error;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return s + " " + std::string(buf.GetString(), buf.GetSize());
}

// The line through ParseInto (fast path first) and through the strict parse alone.
std::pair<std::string, std::string> BothWays(const std::string& line, size_t max_depth) {
  std::string a = line, b = line;
  rapidjson::Document da, db;
  std::string ea, eb;
  const ParseFailure fa = LineParser::ParseInto(a.data(), a.size(), max_depth, &da, &ea);
  const ParseFailure fb = LineParser::ParseStrictInto(b.data(), b.size(), max_depth, &db, &eb);
  return {Outcome(fa, ea, da), Outcome(fb, eb, db)};
}

// The first `max` lines of a sample file of at most `max_bytes` bytes.
std::vector<std::string> SampleLines(const std::string& type, size_t max, size_t max_bytes) {
  std::ifstream in(std::string(SDOH_SOURCE_DIR) + "/samples/" + type + ".ndjson");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line) && out.size() < max) {
    if (!line.empty() && line.size() <= max_bytes) out.push_back(line);
  }
  return out;
}

// Printable in a failure message whatever the bytes.
std::string Shown(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 300)) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

// Every sample resource, cut at every byte and with every byte replaced by each byte that
// changes how JSON reads (structure, escapes, a NUL, control characters, bytes above 0x7F that
// start, continue or can never be in UTF-8): both ways agree on all of them.
TEST(LineParserTest, TheFastPathAgreesWithTheStrictParseOnEveryMutationOfTheSamples) {
  const std::string kBytes = std::string("\"\\{}[],: x0-e.") + std::string(1, '\0') +
                             "\x01\x1F\x7F\x80\xBF\xC0\xC3\xE2\xED\xF4\xF5\xFF";
  size_t lines = 0, cases = 0, accepted = 0;
  for (const char* type : {"Patient", "QuestionnaireResponse", "Observation", "Questionnaire"}) {
    for (const std::string& line : SampleLines(type, 2, 1500)) {
      ++lines;
      auto check = [&](const std::string& text) {
        const auto [fast, strict] = BothWays(text, 64);
        ++cases;
        if (fast.rfind("none ", 0) == 0) ++accepted;
        ASSERT_EQ(fast, strict) << Shown(text);
      };
      check(line);
      for (size_t i = 0; i < line.size(); ++i) {
        check(line.substr(0, i));
        for (char b : kBytes) {
          std::string m = line;
          m[i] = b;
          check(m);
        }
      }
    }
  }
  EXPECT_GE(lines, 8u);
  // Most mutations leave a valid document (a letter for a letter): the fast path's own verdict
  // is compared too, not only the strict parse's.
  EXPECT_GT(accepted, cases / 10) << cases;
}

TEST(LineParserTest, TheFastPathAgreesOnNestingEscapesNumbersAndEncodings) {
  auto nested = [](size_t levels, const char* open, const char* close) {
    std::string s;
    for (size_t i = 0; i < levels; ++i) s += open;
    s += "1";
    for (size_t i = 0; i < levels; ++i) s += close;
    return s;
  };
  std::vector<std::string> lines = {
      "",
      "   ",
      "{}",
      "{} ",
      "{}{}",
      "{} x",
      "[]",
      "null",
      "\"a\"",
      R"({"a":"\u0000b"})",
      R"({"a":"\ud83d\ude00"})",
      R"({"a":"\ud800"})",
      R"({"a":"\udc00x"})",
      R"({"a":"\x"})",
      R"({"a":"\"\\\/\b\f\n\r\t"})",
      R"({"v":0e92,"w":-0E+308,"x":1.5e-3,"y":18446744073709551615,"z":-9223372036854775808})",
      R"({"v":1e400})",
      R"({"v":01})",
      R"({"v":-})",
      R"({"v":1.})",
      R"({"v":.5})",
      R"({"v":tru})",
      R"({"v":[1,]})",
      R"({"v":{"a":1,}})",
      R"({,})",
      R"({"a" 1})",
      R"({"a":1 "b":2})",
      "{\"a\":\"tab\there\"}",
      "{\"a\":\"caf\xC3\xA9\"}",
      "{\"a\":\"\xC0\x80\"}",
      "{\"a\":\"\xED\xA0\x80\"}",
      "{\"a\":\"\xF4\x90\x80\x80\"}",
      "{\"a\":\"\xE2\x82\"}",
      "{\"a\":1}\xC3\xA9",
      "\xEF\xBB\xBF{}",
      std::string("{\"a\":1}\0{\"b\":2}", 15),
      std::string("{}\0", 3),
      std::string("{} \0 ", 5),
      std::string("[1,\0]", 5),
      nested(63, "[", "]"),
      nested(64, "[", "]"),
      nested(65, "[", "]"),
      nested(64, "{\"a\":", "}"),
      nested(65, "{\"a\":", "}"),
      nested(300, "[", "]"),
  };
  for (const std::string& line : lines) {
    for (size_t depth : {size_t{64}, size_t{400}}) {
      const auto [fast, strict] = BothWays(line, depth);
      EXPECT_EQ(fast, strict) << Shown(line) << " (max depth " << depth << ")";
    }
  }
  // Past the fast path's size limit the strict parse alone reads the line, with the same result.
  std::string big = "{\"a\":\"" + std::string(LineParser::kFastMaxLine, 'x') + "\"}";
  const auto [fast, strict] = BothWays(big, 64);
  EXPECT_EQ(fast, strict);
  EXPECT_EQ(fast.substr(0, 5), "none ");
}

// Every one- and two-byte sequence above 0x7F followed by any byte, and the three- and four-byte
// sequences around each boundary of table 3-7 (overlong forms, surrogates, past U+10FFFF,
// truncated at a quote), inside a string and outside one: the fast path's UTF-8 check lets
// through only what the strict parse accepts, and everything it accepts parses the same.
TEST(LineParserTest, TheFastPathAgreesOnEveryUtf8SequenceAroundTheBoundaries) {
  std::vector<std::string> seqs;
  for (int a = 0x80; a <= 0xFF; ++a) {
    for (int b = 0; b <= 0xFF; ++b) seqs.push_back({static_cast<char>(a), static_cast<char>(b)});
  }
  const unsigned char kTails[] = {0x22, 0x7F, 0x80, 0xBF, 0xC0};
  for (int a = 0xE0; a <= 0xF7; ++a) {
    for (int b = 0x70; b <= 0xCF; ++b) {
      for (unsigned char c : kTails) {
        if (a < 0xF0) {
          seqs.push_back({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
          continue;
        }
        for (unsigned char d : kTails) {
          seqs.push_back({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                          static_cast<char>(d)});
        }
      }
    }
  }
  size_t accepted = 0;
  for (const std::string& seq : seqs) {
    for (const std::string& line :
         {"{\"a\":\"x" + seq + "y\"}", "{\"a\":\"" + seq + "\"}", "{\"a\":" + seq + "}"}) {
      const auto [fast, strict] = BothWays(line, 64);
      ASSERT_EQ(fast, strict) << Shown(line);
      if (fast.rfind("none ", 0) == 0) ++accepted;
    }
  }
  // Well-formed sequences are among them (e.g. C3 A9, E2 82 AC, F0 9F 98 80): both ways accept.
  EXPECT_GT(accepted, 2000u);
}

// The bytes of a line the fast path gave up on are restored before the strict parse reads them:
// an in-situ parse rewrites a string with escapes as it goes, so without the restore the strict
// parse would read the rewritten bytes and name another error (or none).
TEST(LineParserTest, ALineTheFastPathRefusesIsReadFromItsOriginalBytes) {
  const std::string line = R"({"a":"x\ny\tz","b":"\u00e9\"q","c":[1,2,)";
  const auto [fast, strict] = BothWays(line, 64);
  EXPECT_EQ(fast, strict);
  EXPECT_EQ(strict.rfind("malformed-json ", 0), 0u) << strict;
}

}  // namespace
}  // namespace fhir::json
