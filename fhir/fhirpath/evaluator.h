// Internal: the tree-walking evaluator. One Evaluator per Evaluate() call; it owns all
// mutable state (step counter, depth, defineVariable() scope), so a compiled Expression
// can be shared between threads.
#ifndef SDOH_FHIR_FHIRPATH_EVALUATOR_H_
#define SDOH_FHIR_FHIRPATH_EVALUATOR_H_

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fhir/fhirpath/ast.h"
#include "fhir/fhirpath/engine.h"
#include "fhir/fhirpath/model.h"

namespace fhir::fhirpath {

namespace internal {
class FunctionCall;
}

class Evaluator {
 public:
  Evaluator(const EvalContext& ctx, const rapidjson::Value* resource);
  // Throws internal::EvalFailure on evaluation errors (caught by Evaluate()).
  Collection Run(const internal::Node& root);

 private:
  // The function library (functions.cc, functions_*.cc) reaches the evaluator through it.
  friend class internal::FunctionCall;
  using Node = internal::Node;
  struct Frame {
    const Item* this_item = nullptr;
    int64_t index = -1;  // $index, -1 when not iterating
    const Collection* total = nullptr;
  };
  struct DepthGuard {
    explicit DepthGuard(Evaluator* e);
    ~DepthGuard() { --e_->depth_; }
    Evaluator* e_;
  };

  // The focus is a view so that lambdas (where, select, ...) can pass one item without
  // copying it into a collection.
  using Focus = std::span<const Item>;
  Collection Eval(const Node& n, Focus focus, const Frame& f);
  Collection EvalArg(const Node& n, const Frame& f);
  // Like Eval, but literals and folded constants are viewed in place (no copy); other
  // results are stored in *storage.
  Focus EvalView(const Node& n, Focus focus, const Frame& f,
                 Collection* storage);  // non-lambda argument: focus = $this
  Collection EvalBinary(const Node& n, Focus focus, const Frame& f);
  // and, or, xor, implies: the right operand only when the left one does not decide.
  Collection EvalLogic(const Node& n, Focus focus, const Frame& f);
  // <, <=, >, >=: items ordered with the local zone for DateTimes.
  Collection EvalComparison(internal::Op op, Focus a, Focus b);
  Collection EvalUnary(const Node& n, Focus focus, const Frame& f);
  Collection Variable(const std::string& name);
  Collection CallFunction(const Node& n, Focus input, const Frame& f);

  // Model navigation (navigation.cc).
  // FHIR type of a JSON value found under an element the model does not describe ("" if
  // none: null, array).
  static std::string_view InferType(const rapidjson::Value& v);
  // Appends the children called `name`. Returns false if the item's type is completely
  // modelled and has no such element (the caller decides whether that is an error).
  bool Member(const Item& item, const std::string& name, Collection* out);
  void AddMember(const rapidjson::Value& obj, std::string_view key, std::string_view type,
                 Collection* out, const model::TypeInfo* type_info = nullptr);
  void Children(const Item& item, Collection* out);
  void CheckStaticMember(const Node& left, const std::string& name);
  bool IsType(const Item& item, const internal::TypeRef& type, bool exact) const;

  // Logic helpers.
  std::optional<bool> ToLogic(Focus c, const char* what);
  const Item* Single(Focus c, const char* what);
  std::optional<bool> CollectionEqual(Focus a, Focus b);
  bool CollectionEquivalent(Focus a, Focus b);
  bool Contains(Focus c, const Item& item);
  void Push(Collection* out, Item item);
  void Step(uint64_t n = 1);
  // The local zone offset, computed on first use (localtime_r takes a process-wide lock).
  int LocalOffset();

  const EvalContext& ctx_;
  const rapidjson::Value* resource_;
  Collection resource_collection_;
  uint64_t steps_ = 0;
  int depth_ = 0;
  std::optional<int> local_offset_;
  std::vector<std::pair<std::string, Collection>> defined_;
};

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_EVALUATOR_H_
