// FHIRPath (N1 2.0.0 plus the 2.1 string/utility additions) over RapidJSON FHIR R4 resources.
//
//   auto compiled = fhirpath::Compile("name.where(use = 'official').given");
//   if (!compiled.ok()) report(compiled.error->position, compiled.error->message);
//   fhirpath::EvalContext ctx;
//   ctx.now = std::chrono::system_clock::now();
//   auto result = fhirpath::Evaluate(*compiled.expression, patient_json, ctx);
//
// Thread safety: an Expression is immutable after Compile; any number of threads may
// Evaluate the same Expression concurrently (each call keeps its own state).
//
// Resources: the engine reads the caller's rapidjson::Value directly and never copies it.
// Result items that come from the resource point into it (Item::node()), so the resource
// must outlive the result. For FHIR decimals to keep their written digits ("1.50"), parse
// the resource with rapidjson::kParseNumbersAsStringsFlag: the engine then reads every
// number from its text using the element's FHIR type. Without that flag numbers are read
// as doubles (integers stay exact; decimals keep at most 15 significant digits and lose
// trailing zeros). Other parse flags (insitu, iterative, validate-encoding) do not matter.
//
// Time zones: now(), today() and timeOfDay() use EvalContext::now and the offset
// EvalContext::utc_offset_minutes. If that offset is unset, the process time zone (TZ)
// in effect at `now` is used. The same offset is used to order a zoned date-time against
// one without a zone; equality (=, !=) between them is empty (unknown), as the suite asks.
#ifndef SDOH_FHIR_FHIRPATH_ENGINE_H_
#define SDOH_FHIR_FHIRPATH_ENGINE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "fhir/fhirpath/value.h"

namespace fhir::fhirpath {

namespace internal {
struct Node;
}

// A syntax error, or a static error found at compile time (unknown function, wrong
// number of arguments, unknown type name). `position` is a 0-based byte offset.
struct SyntaxError {
  size_t position = 0;
  std::string message;
};

struct EvalError {
  std::string message;
};

struct CompileResult;
class Expression;
class Evaluator;
CompileResult Compile(std::string_view text);
// Internal (the evaluator's access to the syntax tree); not part of the API.
const internal::Node& RootOf(const Expression& expr);

// A compiled FHIRPath expression. Cheap to copy (shares the immutable syntax tree).
class Expression {
 public:
  const std::string& text() const { return text_; }

 private:
  friend struct CompileResult;
  friend CompileResult Compile(std::string_view text);
  friend class Evaluator;
  friend const internal::Node& RootOf(const Expression&);
  std::shared_ptr<const internal::Node> root_;
  std::string text_;
};

struct CompileResult {
  std::optional<Expression> expression;
  std::optional<SyntaxError> error;
  bool ok() const { return expression.has_value(); }
};

// Parses and checks `text`. Expressions longer than 64 KiB, with more than 200 nested
// parentheses/arguments, or whose syntax tree is deeper than 800 are rejected.
CompileResult Compile(std::string_view text);

// Guards against runaway expressions and inputs. Exceeding any limit makes Evaluate
// return an EvalError naming the limit.
struct Limits {
  int max_depth = 1000;                  // nested function/operator evaluation depth
  size_t max_collection_size = 1000000;  // items in any intermediate collection
  uint64_t max_steps = 20000000;         // node visits + items processed per Evaluate
  size_t max_string_length = 16 << 20;   // bytes in any computed string
};

struct EvalContext {
  // Evaluation time for now()/today()/timeOfDay(). The default (epoch) is a valid time;
  // callers should set it explicitly so results are reproducible.
  std::chrono::system_clock::time_point now{};
  // Local offset east of UTC in minutes; unset = the process TZ at `now`.
  std::optional<int> utc_offset_minutes;
  // User variables, referenced as %name. They shadow nothing: %resource, %context,
  // %rootResource, %ucum, %sct, %loinc, %`vs-*`, %`ext-*` are built in.
  std::map<std::string, Collection, std::less<>> variables;
  Limits limits;
  // Report element names unknown to a completely modelled type (name.given1) and
  // resource-type path heads that do not match the focus (Encounter.name on a Patient)
  // as errors, instead of returning empty.
  bool strict_model = true;
  // Applying an order-dependent function (skip, take, first, last, tail, [i]) directly
  // to children()/descendants() is an error.
  bool check_ordered_functions = false;
  // Receives trace(name[, projection]) output; ignored when empty.
  std::function<void(std::string_view name, const Collection& items)> trace;
};

struct EvalResult {
  Collection items;
  std::optional<EvalError> error;
  bool ok() const { return !error.has_value(); }
};

// Evaluates `expr` with `resource` as focus, %context, %resource and %rootResource.
EvalResult Evaluate(const Expression& expr, const rapidjson::Value& resource,
                    const EvalContext& ctx);
// Same, with no resource: the focus is the empty collection.
EvalResult EvaluateWithoutResource(const Expression& expr, const EvalContext& ctx);

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_ENGINE_H_
