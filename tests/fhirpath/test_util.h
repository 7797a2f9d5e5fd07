// Helpers shared by the FHIRPath unit tests.
#ifndef SDOH_TESTS_FHIRPATH_TEST_UTIL_H_
#define SDOH_TESTS_FHIRPATH_TEST_UTIL_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/fhirpath/engine.h"

namespace fhir::fhirpath::testing {

// Parses JSON the way the engine wants it (numbers keep their digits).
inline std::unique_ptr<rapidjson::Document> ParseResource(std::string_view json) {
  auto doc = std::make_unique<rapidjson::Document>();
  // Padded copy: RapidJSON's SIMD scan reads 16-byte blocks (sanitizer builds object).
  std::string text;
  text.reserve(json.size() + 64);
  text.assign(json);
  doc->Parse<rapidjson::kParseNumbersAsStringsFlag>(text.c_str(), text.size());
  return doc;
}

// Result rendered as "type:value" strings; "error: ..." on failure.
inline std::vector<std::string> Eval(std::string_view expr, const rapidjson::Value* resource,
                                     const EvalContext& ctx = EvalContext()) {
  auto c = Compile(expr);
  if (!c.ok()) return {"syntax: " + c.error->message};
  EvalResult r = resource ? Evaluate(*c.expression, *resource, ctx)
                          : EvaluateWithoutResource(*c.expression, ctx);
  if (!r.ok()) return {"error: " + r.error->message};
  std::vector<std::string> out;
  for (const Item& i : r.items) {
    out.push_back(std::string(i.TypeName()) + ":" + i.ToText().value_or("<object>"));
  }
  return out;
}

}  // namespace fhir::fhirpath::testing

#endif  // SDOH_TESTS_FHIRPATH_TEST_UTIL_H_
