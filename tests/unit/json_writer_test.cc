// fhir::json::TextWriter writes what rapidjson::Writer<StringBuffer> writes, byte for byte
// (fhir/json_writer.h): the referral lines and flags.ndjson depend on it (issue 17).
#include "fhir/json_writer.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using Base = rapidjson::Writer<rapidjson::StringBuffer>;

// The same calls on a writer of either kind: an object of keys and values, an array of the
// values, raw values in both, the values themselves as keys.
template <typename W>
std::string Write(const std::vector<std::string>& values, const std::string& raw) {
  rapidjson::StringBuffer sb;
  W w(sb);
  w.StartObject();
  for (const std::string& v : values) {
    w.Key(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.Key("raw");
  w.RawValue(raw.data(), raw.size(), rapidjson::kObjectType);
  w.Key("list");
  w.StartArray();
  for (const std::string& v : values) {
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    w.RawValue(raw.data(), raw.size(), rapidjson::kObjectType);
  }
  w.String("literal");
  w.Int(7);
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

bool NeedsEscape(const std::string& s) {
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\') return true;
  }
  return false;
}

TEST(TextWriterTest, EveryByteAtEveryPositionOfAWordWritesWhatRapidJsonWrites) {
  // Each byte value alone, and at each offset of a 17-byte string (both 8-byte words and the
  // tail), so a byte the word-at-a-time test missed would be written unescaped here.
  std::vector<std::string> values = {"", "plain", "Patient/bp0", "caf\xc3\xa9 \xe2\x80\x93 ok"};
  for (int b = 0; b < 256; ++b) {
    values.emplace_back(1, static_cast<char>(b));
    for (size_t at = 0; at < 17; ++at) {
      std::string s(17, 'a');
      s[at] = static_cast<char>(b);
      values.push_back(s);
    }
  }
  const std::string raw = R"({"coding":[{"system":"http://loinc.org","code":"88122-7"}]})";
  const std::string fast = Write<fhir::json::TextWriter>(values, raw);
  EXPECT_EQ(fast, Write<Base>(values, raw));
  EXPECT_NE(fast.find(R"("\u001F")"), std::string::npos);  // escaped, as RapidJSON does
  EXPECT_NE(fast.find(R"("\"")"), std::string::npos);
}

TEST(TextWriterTest, PlainIsExactlyTheStringsTheWriterCopiesUnchanged) {
  std::mt19937 rng(17);
  // Mostly printable bytes with the odd special one, lengths across several words.
  const std::string specials = std::string("\"\\\x1f\x1a\x01\x20\x21\x7f\x80\xff", 10) + '\0';
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 40, 'x');
    for (char& c : s) {
      c = static_cast<char>(rng() % 8 == 0 ? specials[rng() % specials.size()]
                                           : 'a' + static_cast<char>(rng() % 26));
    }
    ASSERT_EQ(fhir::json::TextWriter::Plain(s.data(), s.size()), !NeedsEscape(s)) << round;
    ASSERT_EQ(Write<fhir::json::TextWriter>({s}, "{}"), Write<Base>({s}, "{}")) << round;
  }
}

TEST(TextWriterTest, ATopLevelStringAndRawValueAreWholeDocuments) {
  rapidjson::StringBuffer a, b;
  fhir::json::TextWriter fast(a);
  Base slow(b);
  fast.String("x\ty");
  slow.String("x\ty");
  EXPECT_EQ(std::string(a.GetString()), std::string(b.GetString()));
  EXPECT_TRUE(fast.IsComplete());
  rapidjson::StringBuffer c;
  fhir::json::TextWriter raw(c);
  raw.RawValue("[1,2]", 5, rapidjson::kArrayType);
  EXPECT_EQ(std::string(c.GetString()), "[1,2]");
  EXPECT_TRUE(raw.IsComplete());
}

}  // namespace

namespace {

// A writer reset onto the next buffer (as the referral builders and flags.ndjson reuse theirs,
// issue 17) writes what a new writer writes: after a whole document, and after one left open.
TEST(TextWriterTest, AResetWriterWritesWhatANewWriterWrites) {
  auto doc = [](fhir::json::TextWriter& w, const std::string& v) {
    w.StartObject();
    w.Key("a");
    w.StartArray();
    w.String(v);
    w.Int(1);
    w.EndArray();
    w.Key("b");
    w.String("x\"y");
    w.EndObject();
  };
  rapidjson::StringBuffer first;
  fhir::json::TextWriter reused(first);
  doc(reused, "one");
  for (const std::string& v : {std::string("two"), std::string("tab\t")}) {
    rapidjson::StringBuffer fresh_sb, reused_sb;
    fhir::json::TextWriter fresh(fresh_sb);
    doc(fresh, v);
    reused.Reset(reused_sb);
    doc(reused, v);
    EXPECT_EQ(std::string(reused_sb.GetString()), std::string(fresh_sb.GetString()));
  }
  rapidjson::StringBuffer open_sb, after_sb, fresh_sb;
  reused.Reset(open_sb);
  reused.StartObject();
  reused.Key("left");
  reused.StartArray();  // never closed
  reused.Reset(after_sb);
  doc(reused, "three");
  fhir::json::TextWriter fresh(fresh_sb);
  doc(fresh, "three");
  EXPECT_EQ(std::string(after_sb.GetString()), std::string(fresh_sb.GetString()));
  EXPECT_TRUE(reused.IsComplete());
}

}  // namespace
