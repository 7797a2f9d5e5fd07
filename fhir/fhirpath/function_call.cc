#include "fhir/fhirpath/function_call.h"

#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath::internal {

std::optional<std::string_view> FunctionCall::InputString() {
  const Item* i = SingleInput(node.name.c_str());
  if (!i) return std::nullopt;
  if (i->kind() != ValueKind::kString) {
    Fail(node.name + "() expects a string but got " + std::string(i->TypeName()));
  }
  return i->str();
}

std::optional<std::string> FunctionCall::ArgString(size_t i) {
  const Item* a = Single(args[i], node.name.c_str());
  if (!a) return std::nullopt;
  if (a->kind() != ValueKind::kString) Fail(node.name + "() expects a string argument");
  return std::string(a->str());
}

std::optional<int64_t> FunctionCall::ArgInteger(size_t i) {
  const Item* a = Single(args[i], node.name.c_str());
  if (!a) return std::nullopt;
  if (a->kind() != ValueKind::kInteger) Fail(node.name + "() expects an integer argument");
  return a->integer();
}

Collection FunctionCall::StringResult(std::string s) {
  if (s.size() > context().limits.max_string_length) Fail("string length limit exceeded");
  Step(s.size() / 16);
  return One(Item::String(std::move(s)));
}

void NotImplemented(const FunctionCall& call) {
  Fail("function " + call.node.name + "() is not implemented");
}

}  // namespace fhir::fhirpath::internal
