// Internal: one call of a library function as the function families see it — the call node,
// its input, its pre-evaluated arguments, and the few evaluator services a function may use.
// Evaluator::CallFunction (functions.cc) builds it and hands it to the function's family, each
// a switch on `fn` in its own file (functions_<family>.cc).
//
// Not thread-safe; lives for one call on the evaluator's stack.
#ifndef SDOH_FHIR_FHIRPATH_FUNCTION_CALL_H_
#define SDOH_FHIR_FHIRPATH_FUNCTION_CALL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/fhirpath/evaluator.h"
#include "fhir/fhirpath/functions.h"

namespace fhir::fhirpath::internal {

class FunctionCall {
 public:
  using Focus = std::span<const Item>;
  using Frame = Evaluator::Frame;

  // REQUIRES: evaluator, node, input and frame outlive the call.
  FunctionCall(Evaluator* evaluator, const Node& node, Focus input, const Frame& frame)
      : node(node), fn(node.fn), input(input), frame(frame), ev_(evaluator) {}
  FunctionCall(const FunctionCall&) = delete;
  FunctionCall& operator=(const FunctionCall&) = delete;

  const Node& node;    // name (for messages), args (unevaluated), type (is/as/ofType)
  const int fn;        // Fn (functions.h)
  const Focus input;   // the collection the function is invoked on
  const Frame& frame;  // the caller's $this, $index, $total
  // The arguments evaluated with $this as focus; those FnInfo::deferred marks stay empty.
  std::vector<Collection> args;

  // --- The input and the arguments.

  Collection WholeInput() const { return Collection(input.begin(), input.end()); }
  // The single input item, nullptr for an empty input; fails on more than one item.
  const Item* SingleInput(const char* what) { return ev_->Single(input, what); }
  // The single String input of a string function, nullopt for an empty input; fails on
  // another type.
  std::optional<std::string_view> InputString();
  // Argument i as a single String / Integer, nullopt when it is empty; fails on another type.
  std::optional<std::string> ArgString(size_t i);
  std::optional<int64_t> ArgInteger(size_t i);
  // Deferred argument `arg` evaluated for one input item: `item` is the focus and $this,
  // `index` is $index, $total is the caller's. Variables it defines end with it.
  Collection Lambda(size_t arg, const Item& item, int64_t index) {
    Frame inner;
    inner.this_item = &item;
    inner.index = index;
    inner.total = frame.total;
    size_t scope = ev_->defined_.size();
    Collection r = ev_->Eval(*node.args[arg], Focus(&item, 1), inner);
    ev_->defined_.resize(scope);
    return r;
  }
  // `s` as a one-String result; fails over the string length limit, counts its length as
  // steps.
  Collection StringResult(std::string s);

  // --- Evaluator services (see evaluator.h).

  const EvalContext& context() const { return ev_->ctx_; }
  Collection Eval(const Node& expr, Focus focus, const Frame& f) {
    return ev_->Eval(expr, focus, f);
  }
  // defineVariable(): the variables in scope, innermost last. Eval() of an argument may add
  // to them; restore the size after it to end its scope.
  std::vector<std::pair<std::string, Collection>>& defined() { return ev_->defined_; }
  const Item* Single(Focus c, const char* what) { return ev_->Single(c, what); }
  std::optional<bool> ToLogic(Focus c, const char* what) { return ev_->ToLogic(c, what); }
  bool Contains(Focus c, const Item& item) { return ev_->Contains(c, item); }
  template <typename I>
  void Push(Collection* out, I&& item) {
    ev_->Push(out, std::forward<I>(item));
  }
  void Step(uint64_t n = 1) { ev_->Step(n); }
  int LocalOffset() { return ev_->LocalOffset(); }
  bool IsType(const Item& item, const TypeRef& type, bool exact) const {
    return ev_->IsType(item, type, exact);
  }
  bool Member(const Item& item, const std::string& name, Collection* out) {
    return ev_->Member(item, name, out);
  }
  void Children(const Item& item, Collection* out) { ev_->Children(item, out); }

 private:
  Evaluator* ev_;
};

inline Collection One(Item i) { return Collection{std::move(i)}; }
inline Collection Bool(bool b) { return One(Item::Boolean(b)); }

// Fails with "function NAME() is not implemented" (a family's default case).
[[noreturn]] void NotImplemented(const FunctionCall& call);

// The function families, each a switch on call.fn over the functions it owns (the family
// table in functions.cc says which). FHIRPath 2.0 §5 and the 2.1 additions.
// Existence, subsetting, combining, coalesce(), sum/min/max/avg (functions_collections.cc).
Collection CallCollectionFunction(FunctionCall& call);
// Per-item criteria and projections: where, select, repeat, ofType, aggregate, sort
// (functions_filtering.cc).
Collection CallFilteringFunction(FunctionCall& call);
// iif, to*/convertsTo*, as/is/type/conformsTo, hasValue/getValue (functions_conversion.cc).
Collection CallConversionFunction(FunctionCall& call);
// String manipulation and regular expressions (functions_strings.cc).
Collection CallStringFunction(FunctionCall& call);
// Math, boundaries, precision, comparable (functions_math.cc).
Collection CallMathFunction(FunctionCall& call);
// now/today/timeOfDay and the date-time component functions (functions_datetime.cc).
Collection CallDateTimeFunction(FunctionCall& call);
// Tree navigation, trace, defineVariable, not, extension, htmlChecks (functions_utility.cc).
Collection CallUtilityFunction(FunctionCall& call);

}  // namespace fhir::fhirpath::internal

#endif  // SDOH_FHIR_FHIRPATH_FUNCTION_CALL_H_
