// Runs the HL7 FHIRPath R4 conformance suite (tests/conformance/fhirpath/tests.json) with
// the comparison rule of that folder's README and prints "N passed, N failed" plus the
// indices of failing cases.
//
// usage: fhirpath_conformance SUITE_DIR [--min-pass N] [--verbose] [--case INDEX]
// Exit status: 0 if the pass count is at least N (default 0), 1 otherwise, 2 on bad input.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/fhirpath/engine.h"

namespace fp = fhir::fhirpath;

namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string Str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : std::string();
}

// Canonical decimal text: no '+', no leading zeros, no trailing fraction zeros, "-0" -> "0".
std::string CanonicalNumber(std::string s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.erase(0, 1);
  }
  size_t dot = s.find('.');
  std::string ip = dot == std::string::npos ? s : s.substr(0, dot);
  std::string fp = dot == std::string::npos ? "" : s.substr(dot + 1);
  while (ip.size() > 1 && ip[0] == '0') ip.erase(0, 1);
  while (!fp.empty() && fp.back() == '0') fp.pop_back();
  std::string r = ip.empty() ? "0" : ip;
  if (!fp.empty()) r += "." + fp;
  if (r == "0") neg = false;
  return (neg ? "-" : "") + r;
}

bool IsInteger(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

bool IsDecimalText(const std::string& s) {
  size_t dot = s.find('.');
  if (dot == std::string::npos || dot == 0) return false;
  std::string a = s.substr(0, dot), b = s.substr(dot + 1);
  return IsInteger(a) && !b.empty() && IsInteger(b) && b[0] != '+' && b[0] != '-';
}

std::string InferType(const std::string& v) {
  if (v == "true" || v == "false") return "boolean";
  if (IsInteger(v)) return "integer";
  if (IsDecimalText(v)) return "decimal";
  size_t sp = v.find(' ');
  if (sp != std::string::npos && (IsInteger(v.substr(0, sp)) || IsDecimalText(v.substr(0, sp)))) {
    return "Quantity";
  }
  if (v.rfind("@T", 0) == 0) return "time";
  if (v.rfind("@", 0) == 0) {
    std::string d = v.substr(1);
    if (d.size() == 4 || d.size() == 7 || d.size() == 10) {
      if (d.find('T') == std::string::npos) return "date";
    }
    return "dateTime";
  }
  return "string";
}

bool TemporalMatches(const fp::Item& item, const std::string& expected, const std::string& type) {
  std::string text = expected;
  if (!text.empty() && text[0] == '@') text.erase(0, 1);
  fp::TemporalKind kind = fp::TemporalKind::kDateTime;
  if (type == "time") {
    kind = fp::TemporalKind::kTime;
    if (!text.empty() && text[0] == 'T') text.erase(0, 1);
  } else if (type == "date") {
    kind = fp::TemporalKind::kDate;
  }
  auto want = fp::Temporal::Parse(text, kind);
  if (!want) return false;
  std::optional<fp::Temporal> got;
  if (item.kind() == fp::ValueKind::kDate || item.kind() == fp::ValueKind::kDateTime ||
      item.kind() == fp::ValueKind::kTime) {
    got = item.temporal();
  } else if (item.kind() == fp::ValueKind::kString) {
    got = fp::Temporal::Parse(item.str(), kind);
  }
  if (!got) return false;
  auto prec = [](const fp::Temporal& t) {
    return t.precision == fp::kMillisecond ? static_cast<int>(fp::kSecond)
                                           : static_cast<int>(t.precision);
  };
  if (prec(*got) != prec(*want)) return false;
  bool got_time = got->precision >= fp::kHour && got->kind == fp::TemporalKind::kDateTime;
  bool want_time = want->precision >= fp::kHour && want->kind == fp::TemporalKind::kDateTime;
  if ((got_time && got->has_tz) != (want_time && want->has_tz)) return false;
  fp::Temporal a = *got, b = *want;
  if (a.kind != fp::TemporalKind::kTime) a.kind = b.kind = fp::TemporalKind::kDateTime;
  return fp::CompareTemporal(a, b) == fp::Order::kEqual;
}

bool ItemMatches(const fp::Item& item, const rapidjson::Value& exp) {
  std::string value = Str(exp["value"]);
  std::string type = exp["type"].IsString() ? Str(exp["type"]) : "";
  if (!type.empty() && item.TypeName() != type) return false;
  std::string vt = type.empty() ? InferType(value) : type;
  if (vt == "boolean") {
    return item.kind() == fp::ValueKind::kBoolean && (item.boolean() ? "true" : "false") == value;
  }
  if (vt == "integer" || vt == "decimal" || vt == "unsignedInt" || vt == "positiveInt") {
    auto text = item.ToText();
    if (!text ||
        (item.kind() != fp::ValueKind::kInteger && item.kind() != fp::ValueKind::kDecimal)) {
      return false;
    }
    return CanonicalNumber(*text) == CanonicalNumber(value);
  }
  if (vt == "date" || vt == "dateTime" || vt == "time" || vt == "instant") {
    return TemporalMatches(item, value, vt);
  }
  if (vt == "Quantity") {
    if (item.kind() != fp::ValueKind::kQuantity) return false;
    fp::Quantity q = item.quantity();
    size_t sp = value.find(' ');
    std::string num = value.substr(0, sp), unit = value.substr(sp + 1);
    if (CanonicalNumber(q.value.ToString()) != CanonicalNumber(num)) return false;
    if (unit.size() >= 2 && unit.front() == '\'') {
      return !q.calendar && q.unit == unit.substr(1, unit.size() - 2);
    }
    return q.calendar && fp::CalendarWordSingular(q.unit) == fp::CalendarWordSingular(unit);
  }
  auto text = item.ToText();
  return text && *text == value;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " SUITE_DIR [--min-pass N] [--verbose] [--case I]\n";
    return 2;
  }
  std::string dir = argv[1];
  long min_pass = 0;
  bool verbose = false;
  long only = -1;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--min-pass" && i + 1 < argc) {
      min_pass = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--case" && i + 1 < argc) {
      only = std::strtol(argv[++i], nullptr, 10);
      verbose = true;
    } else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  std::string text;
  if (!ReadFile(dir + "/tests.json", &text)) {
    std::cerr << "cannot read " << dir << "/tests.json\n";
    return 2;
  }
  text.reserve(text.size() + 64);
  rapidjson::Document cases;
  cases.Parse(text.c_str(), text.size());
  if (cases.HasParseError() || !cases.IsArray()) {
    std::cerr << dir << "/tests.json: not a JSON array\n";
    return 2;
  }
  std::map<std::string, std::unique_ptr<rapidjson::Document>> resources;
  std::map<std::string, std::string> resource_texts;
  auto resource = [&](const std::string& name) -> const rapidjson::Document* {
    auto it = resources.find(name);
    if (it != resources.end()) return it->second.get();
    std::string& body = resource_texts[name];
    if (!ReadFile(dir + "/resources/" + name, &body)) return nullptr;
    body.reserve(body.size() + 64);  // RapidJSON's SIMD scan reads whole 16-byte blocks
    auto doc = std::make_unique<rapidjson::Document>();
    doc->Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseFullPrecisionFlag>(
        body.c_str(), body.size());
    if (doc->HasParseError()) return nullptr;
    return resources.emplace(name, std::move(doc)).first->second.get();
  };

  int passed = 0, failed = 0;
  std::vector<int> failures;
  for (const auto& c : cases.GetArray()) {
    int index = c["index"].GetInt();
    if (only >= 0 && index != only) continue;
    std::string expr_text = Str(c["expression"]);
    bool invalid = c["invalid"].IsString();
    std::string detail;
    bool ok = false;
    fp::EvalContext ctx;
    ctx.now = std::chrono::system_clock::now();
    ctx.check_ordered_functions = c["checkOrderedFunctions"].IsTrue();
    fp::EvalResult result;
    auto compiled = fp::Compile(expr_text);
    if (!compiled.ok()) {
      ok = invalid;
      detail = "syntax error at " + std::to_string(compiled.error->position) + ": " +
               compiled.error->message;
    } else {
      const rapidjson::Document* res = nullptr;
      if (c["inputfile"].IsString()) {
        res = resource(Str(c["inputfile"]));
        if (!res) {
          std::cerr << "cannot load resource " << Str(c["inputfile"]) << "\n";
          return 2;
        }
      }
      result = res ? fp::Evaluate(*compiled.expression, *res, ctx)
                   : fp::EvaluateWithoutResource(*compiled.expression, ctx);
      if (!result.ok()) {
        ok = invalid;
        detail = "evaluation error: " + result.error->message;
      } else if (invalid) {
        ok = false;
        detail = "expected an error";
      } else {
        fp::Collection items = std::move(result.items);
        if (c["predicate"].IsTrue()) {
          bool b = items.size() == 1 && items[0].kind() == fp::ValueKind::kBoolean
                       ? items[0].boolean()
                       : !items.empty();
          items = fp::Collection{fp::Item::Boolean(b)};
        }
        const auto& expected = c["expected"];
        if (items.size() != expected.Size()) {
          detail = "expected " + std::to_string(expected.Size()) + " items, got " +
                   std::to_string(items.size());
        } else if (c["ordered"].IsFalse()) {
          std::vector<bool> used(expected.Size(), false);
          ok = true;
          for (const auto& it : items) {
            bool found = false;
            for (rapidjson::SizeType j = 0; j < expected.Size(); ++j) {
              if (!used[j] && ItemMatches(it, expected[j])) {
                used[j] = found = true;
                break;
              }
            }
            if (!found) ok = false;
          }
        } else {
          ok = true;
          for (rapidjson::SizeType j = 0; j < expected.Size(); ++j) {
            if (!ItemMatches(items[j], expected[j])) {
              ok = false;
              detail = "item " + std::to_string(j) + " is " + std::string(items[j].TypeName()) +
                       " " + items[j].ToText().value_or("<object>") + ", expected " +
                       (expected[j]["type"].IsString() ? Str(expected[j]["type"]) : "?") + " " +
                       Str(expected[j]["value"]);
              break;
            }
          }
        }
        if (!ok && detail.empty()) detail = "items differ";
        if (verbose) {
          std::cout << "  result:";
          for (const auto& it : items) {
            std::cout << " " << it.TypeName() << ":" << it.ToText().value_or("<object>");
          }
          std::cout << "\n";
        }
      }
    }
    if (ok) {
      ++passed;
    } else {
      ++failed;
      failures.push_back(index);
    }
    if (verbose || !ok) {
      if (verbose || std::getenv("FHIRPATH_CONFORMANCE_DETAILS")) {
        std::cout << (ok ? "PASS " : "FAIL ") << index << " " << Str(c["name"]) << ": " << expr_text
                  << (detail.empty() ? "" : "  -- " + detail) << "\n";
      }
    }
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  if (!failures.empty()) {
    std::cout << "failing cases:";
    for (int i : failures) std::cout << " " << i;
    std::cout << "\n";
  }
  if (passed < min_pass) {
    std::cout << "pass count " << passed << " is below the recorded floor " << min_pass << "\n";
    return 1;
  }
  return 0;
}
