// Internal: the syntax tree produced by the parser and walked by the evaluator.
#ifndef SDOH_FHIR_FHIRPATH_AST_H_
#define SDOH_FHIR_FHIRPATH_AST_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fhir/fhirpath/value.h"

namespace fhir::fhirpath::internal {

enum class NodeKind : uint8_t {
  kLiteral,   // literal
  kEmpty,     // {}
  kMember,    // identifier: child elements of the focus
  kFunction,  // name(args)
  kThis,      // $this
  kIndex,     // $index
  kTotal,     // $total
  kVariable,  // %name
  kInvoke,    // args[0] . args[1]
  kIndexer,   // args[0] [ args[1] ]
  kUnary,     // op args[0]
  kBinary,    // args[0] op args[1]
  kTypeOp,    // args[0] is/as type
  kParen,     // ( args[0] )
};

enum class Op : uint8_t {
  kNone,
  kPlus,
  kMinus,
  kMul,
  kDiv,
  kIntDiv,
  kMod,
  kConcat,
  kUnion,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kEquiv,
  kNotEquiv,
  kIn,
  kContains,
  kAnd,
  kOr,
  kXor,
  kImplies,
  kIs,
  kAs,
};

struct TypeRef {
  std::string ns;    // "FHIR", "System" or "" (unqualified)
  std::string name;  // "Quantity", "string", "Patient"
};

struct Node {
  NodeKind kind = NodeKind::kEmpty;
  Op op = Op::kNone;
  size_t pos = 0;
  std::string name;  // member / function / variable name
  int fn = -1;       // function id (functions.h)
  Item literal;
  TypeRef type;  // kTypeOp, and type arguments of is()/as()/ofType()
  std::vector<std::unique_ptr<Node>> args;
  // Set by the parser for constant unions of literals ('a' | 'b' | 'c'), which rule
  // expressions use as code lists; the evaluator returns it without re-evaluating.
  std::optional<Collection> folded;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Iterative teardown: long chains (a.b.c...) must not recurse once per node.
  ~Node() {
    std::vector<std::unique_ptr<Node>> pending;
    for (auto& a : args) pending.push_back(std::move(a));
    while (!pending.empty()) {
      std::unique_ptr<Node> n = std::move(pending.back());
      pending.pop_back();
      for (auto& a : n->args) pending.push_back(std::move(a));
      n->args.clear();
    }
  }
};

}  // namespace fhir::fhirpath::internal

#endif  // SDOH_FHIR_FHIRPATH_AST_H_
