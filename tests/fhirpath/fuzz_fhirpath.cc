// libFuzzer target: parse + evaluate arbitrary FHIRPath text (issue 3, "Bad input").
//
// Input: the expression, optionally followed by a NUL byte and a JSON resource. Without a
// resource the expression runs against a built-in Patient/Observation-like resource and
// against an empty input. Any crash, sanitizer report, or slow unit is a bug: every
// expression must end in a result, a SyntaxError or an EvalError within the limits.
//
// Build (clang only): cmake -DCMAKE_CXX_COMPILER=clang++ ...; ninja fuzz_fhirpath
// Run:   ./fuzz_fhirpath -max_total_time=600 tests/fhirpath/corpus
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "fhir/fhirpath/engine.h"

namespace {

constexpr char kResource[] = R"({
  "resourceType": "Patient", "id": "f1", "active": true, "gender": "male",
  "birthDate": "1974-12-25",
  "_birthDate": {"extension": [{"url": "http://example.org/t", "valueTime": "14:35:45"}]},
  "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
           {"use": "usual", "given": [null, "Jim"], "_given": [{"id": "x"}]}],
  "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1}],
  "multipleBirthInteger": 3,
  "extension": [{"url": "http://example.org/q", "valueQuantity": {"value": 1.50, "unit": "mg",
                 "system": "http://unitsofmeasure.org", "code": "mg"}},
                {"url": "http://example.org/d", "valueDecimal": 0.001},
                {"url": "http://example.org/p", "valuePeriod": {"start": "2001-05-06",
                 "end": "2002-01-01T10:00:00Z"}}],
  "contained": [{"resourceType": "Observation", "id": "o", "status": "final",
                 "valueCodeableConcept": {"coding": [{"system": "http://loinc.org",
                 "code": "LA31996-4"}]}, "effectiveDateTime": "2016-03-28T09:30:00+02:00"}]
})";

// RapidJSON's SIMD string scan reads whole 16-byte blocks; keep them inside the allocation.
std::string PaddedCopy(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 64);
  out.assign(s);
  return out;
}

const rapidjson::Document& BuiltIn() {
  static const rapidjson::Document* doc = [] {
    auto* d = new rapidjson::Document();
    std::string text = PaddedCopy(kResource);
    d->Parse<rapidjson::kParseNumbersAsStringsFlag>(text.c_str(), text.size());
    return d;
  }();
  return *doc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view text = input.substr(0, nul);
  auto compiled = fhir::fhirpath::Compile(text);
  if (!compiled.ok()) return 0;

  fhir::fhirpath::EvalContext ctx;
  ctx.now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  ctx.utc_offset_minutes = 60;
  ctx.limits.max_steps = 200000;
  ctx.limits.max_collection_size = 20000;
  ctx.limits.max_string_length = 1 << 20;
  ctx.variables["v"] = fhir::fhirpath::Collection{fhir::fhirpath::Item::String("value")};

  if (nul != std::string_view::npos) {
    std::string json = PaddedCopy(input.substr(nul + 1));
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag |
              rapidjson::kParseValidateEncodingFlag>(json.c_str(), json.size());
    if (!doc.HasParseError()) (void)fhir::fhirpath::Evaluate(*compiled.expression, doc, ctx);
    return 0;
  }
  (void)fhir::fhirpath::Evaluate(*compiled.expression, BuiltIn(), ctx);
  ctx.check_ordered_functions = true;
  ctx.strict_model = false;
  (void)fhir::fhirpath::EvaluateWithoutResource(*compiled.expression, ctx);
  return 0;
}
