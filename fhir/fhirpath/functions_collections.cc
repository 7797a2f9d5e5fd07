// Collection functions: existence (FHIRPath §5.1), subsetting (§5.3), combining (§5.4),
// coalesce() and the aggregates sum/min/max/avg (2.1).
#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath::internal {
namespace {

// exists(criteria): stops at the first item that meets it; all(): at the first that does not.
Collection Exists(FunctionCall& c) {
  if (c.node.args.empty()) return Bool(!c.input.empty());
  for (size_t i = 0; i < c.input.size(); ++i) {
    auto b = c.ToLogic(c.Lambda(0, c.input[i], static_cast<int64_t>(i)), "exists()");
    if (b && *b) return Bool(true);
  }
  return Bool(false);
}

Collection All(FunctionCall& c) {
  for (size_t i = 0; i < c.input.size(); ++i) {
    auto b = c.ToLogic(c.Lambda(0, c.input[i], static_cast<int64_t>(i)), "all()");
    if (!b || !*b) return Bool(false);
  }
  return Bool(true);
}

// allTrue, anyTrue, allFalse, anyFalse over a collection of Booleans.
Collection BooleanQuantifier(FunctionCall& c) {
  const bool all = c.fn == kAllTrue || c.fn == kAllFalse;
  const bool wanted = c.fn == kAllTrue || c.fn == kAnyTrue;
  const char* what = c.fn == kAllTrue    ? "allTrue"
                     : c.fn == kAnyTrue  ? "anyTrue"
                     : c.fn == kAllFalse ? "allFalse"
                                         : "anyFalse";
  for (const Item& i : c.input) {
    if (i.kind() != ValueKind::kBoolean) Fail(std::string(what) + "() expects booleans");
  }
  for (const Item& i : c.input) {
    if (all && i.boolean() != wanted) return Bool(false);
    if (!all && i.boolean() == wanted) return Bool(true);
  }
  return Bool(all);
}

// subsetOf(): every item of `items` is in `of` (supersetOf() swaps them).
Collection SubsetOf(FunctionCall& c, FunctionCall::Focus items, FunctionCall::Focus of) {
  for (const Item& i : items) {
    if (!c.Contains(of, i)) return Bool(false);
  }
  return Bool(true);
}

Collection Distinct(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) {
    if (!c.Contains(out, i)) c.Push(&out, i);
  }
  return out;
}

Collection IsDistinct(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) {
    if (c.Contains(out, i)) return Bool(false);
    c.Push(&out, i);
  }
  return Bool(true);
}

Collection SingleFn(FunctionCall& c) {
  const Item* i = c.SingleInput("single()");
  if (!i) return {};
  return One(*i);
}

Collection Skip(FunctionCall& c) {
  auto k = c.ArgInteger(0);
  if (!k) return {};
  if (*k <= 0) return c.WholeInput();
  if (static_cast<size_t>(*k) >= c.input.size()) return {};
  return Collection(c.input.begin() + *k, c.input.end());
}

Collection Take(FunctionCall& c) {
  auto k = c.ArgInteger(0);
  if (!k || *k <= 0) return {};
  if (static_cast<size_t>(*k) >= c.input.size()) return c.WholeInput();
  return Collection(c.input.begin(), c.input.begin() + *k);
}

Collection Intersect(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) {
    if (c.Contains(c.args[0], i) && !c.Contains(out, i)) c.Push(&out, i);
  }
  return out;
}

Collection Exclude(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) {
    if (!c.Contains(c.args[0], i)) c.Push(&out, i);
  }
  return out;
}

Collection Union(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) {
    if (!c.Contains(out, i)) c.Push(&out, i);
  }
  for (const Item& i : c.args[0]) {
    if (!c.Contains(out, i)) c.Push(&out, i);
  }
  return out;
}

Collection Combine(FunctionCall& c) {
  Collection out = c.WholeInput();
  for (const Item& i : c.args[0]) c.Push(&out, i);
  return out;
}

Collection Coalesce(FunctionCall& c) {
  for (Collection& a : c.args) {
    if (!a.empty()) return a;
  }
  return {};
}

// sum() and avg(): the items added with '+' (avg divides by the count).
Collection SumOrAvg(FunctionCall& c) {
  if (c.input.empty()) return c.fn == kSum ? One(Item::Integer(0)) : Collection{};
  Item acc = c.input[0];
  for (size_t i = 1; i < c.input.size(); ++i) {
    auto r = Arithmetic(Op::kPlus, acc, c.input[i]);
    if (!r) return {};
    acc = std::move(*r);
  }
  if (c.fn == kSum) return One(acc);
  auto r = Arithmetic(Op::kDiv, acc, Item::Integer(static_cast<int64_t>(c.input.size())));
  if (!r) return {};
  return One(*r);
}

Collection MinOrMax(FunctionCall& c) {
  if (c.input.empty()) return {};
  const Item* best = &c.input[0];
  for (size_t i = 1; i < c.input.size(); ++i) {
    auto o = CompareOrder(c.input[i], *best, c.LocalOffset());
    if (!o) return {};
    if ((c.fn == kMin && *o < 0) || (c.fn == kMax && *o > 0)) best = &c.input[i];
  }
  return One(*best);
}

}  // namespace

Collection CallCollectionFunction(FunctionCall& c) {
  switch (c.fn) {
    case kEmptyFn:
      return Bool(c.input.empty());
    case kExists:
      return Exists(c);
    case kAll:
      return All(c);
    case kAllTrue:
    case kAnyTrue:
    case kAllFalse:
    case kAnyFalse:
      return BooleanQuantifier(c);
    case kSubsetOf:
      return SubsetOf(c, c.input, c.args[0]);
    case kSupersetOf:
      return SubsetOf(c, c.args[0], c.input);
    case kCount:
      return One(Item::Integer(static_cast<int64_t>(c.input.size())));
    case kDistinct:
      return Distinct(c);
    case kIsDistinct:
      return IsDistinct(c);
    case kSingle:
      return SingleFn(c);
    case kFirst:
      if (c.input.empty()) return {};
      return One(c.input.front());
    case kLast:
      if (c.input.empty()) return {};
      return One(c.input.back());
    case kTail:
      if (c.input.size() <= 1) return {};
      return Collection(c.input.begin() + 1, c.input.end());
    case kSkip:
      return Skip(c);
    case kTake:
      return Take(c);
    case kIntersect:
      return Intersect(c);
    case kExclude:
      return Exclude(c);
    case kUnionFn:
      return Union(c);
    case kCombine:
      return Combine(c);
    case kCoalesce:
      return Coalesce(c);
    case kSum:
    case kAvg:
      return SumOrAvg(c);
    case kMin:
    case kMax:
      return MinOrMax(c);
    default:
      NotImplemented(c);
  }
}

}  // namespace fhir::fhirpath::internal
