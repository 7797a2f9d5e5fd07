// Tree navigation (FHIRPath §5.8: children(), descendants()), utility functions (§5.9:
// trace(), and defineVariable() from 2.1), not() (§6.5) and the FHIR additions extension()
// and htmlChecks().
#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath::internal {
namespace {

Collection ChildrenFn(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) c.Children(i, &out);
  return out;
}

// Breadth first: children, then grandchildren, ...
Collection Descendants(FunctionCall& c) {
  Collection out;
  Collection frontier = c.WholeInput();
  while (!frontier.empty()) {
    Collection next;
    for (const Item& i : frontier) c.Children(i, &next);
    for (const Item& i : next) c.Push(&out, i);
    frontier = std::move(next);
  }
  return out;
}

// trace(name [, projection]): reports to EvalContext::trace and returns the input.
Collection Trace(FunctionCall& c) {
  const EvalContext& ctx = c.context();
  if (ctx.trace) {
    auto name = c.ArgString(0).value_or("");
    if (c.node.args.size() > 1) {
      Collection projected;
      for (size_t i = 0; i < c.input.size(); ++i) {
        for (Item& r : c.Lambda(1, c.input[i], static_cast<int64_t>(i))) {
          c.Push(&projected, std::move(r));
        }
      }
      ctx.trace(name, projected);
    } else {
      ctx.trace(name, c.WholeInput());
    }
  }
  return c.WholeInput();
}

// defineVariable(name [, value]): %name is the input (or the value) for the rest of the
// enclosing expression; names in use are errors.
Collection DefineVariable(FunctionCall& c) {
  auto name = c.ArgString(0);
  if (!name) Fail("defineVariable() needs a name");
  static const char* const kReserved[] = {"context", "resource", "rootResource",
                                          "ucum",    "sct",      "loinc"};
  for (const char* r : kReserved) {
    if (*name == r) Fail("variable %" + *name + " is already defined");
  }
  for (const auto& d : c.defined()) {
    if (d.first == *name) Fail("variable %" + *name + " is already defined");
  }
  Collection value = c.WholeInput();
  if (c.node.args.size() > 1) {
    size_t scope = c.defined().size();
    FunctionCall::Frame inner = c.frame;
    if (c.input.size() == 1) inner.this_item = &c.input[0];
    value = c.Eval(*c.node.args[1], c.input, inner);
    c.defined().resize(scope);
  }
  c.defined().emplace_back(*name, std::move(value));
  return c.WholeInput();
}

Collection Not(FunctionCall& c) {
  auto b = c.ToLogic(c.input, "not()");
  if (!b) return {};
  return Bool(!*b);
}

// extension(url): the extensions of the input items with that url.
Collection Extension(FunctionCall& c) {
  auto url = c.ArgString(0);
  if (!url) return {};
  Collection out;
  for (const Item& i : c.input) {
    Collection exts;
    c.Member(i, "extension", &exts);
    for (Item& e : exts) {
      const rapidjson::Value* node = e.node();
      if (!node || !node->IsObject()) continue;
      auto u = node->FindMember("url");
      if (u != node->MemberEnd() && u->value.IsString() &&
          std::string_view(u->value.GetString(), u->value.GetStringLength()) == *url) {
        c.Push(&out, std::move(e));
      }
    }
  }
  return out;
}

}  // namespace

Collection CallUtilityFunction(FunctionCall& c) {
  switch (c.fn) {
    case kChildren:
      return ChildrenFn(c);
    case kDescendants:
      return Descendants(c);
    case kTrace:
      return Trace(c);
    case kDefineVariable:
      return DefineVariable(c);
    case kNot:
      return Not(c);
    case kExtension:
      return Extension(c);
    case kHtmlChecks:
      return Bool(true);
    default:
      NotImplemented(c);
  }
}

}  // namespace fhir::fhirpath::internal
