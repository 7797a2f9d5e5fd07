#include "fhir/fhirpath/evaluator.h"

#include <ctime>
#include <regex>

#include "fhir/fhirpath/functions.h"
#include "fhir/fhirpath/model.h"
#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath {

using internal::EvalFailure;
using internal::Fail;
using internal::NodeKind;
using internal::Op;

namespace {

int ProcessOffsetMinutes(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&t, &local);
  return static_cast<int>(local.tm_gmtoff / 60);
}

}  // namespace

Evaluator::DepthGuard::DepthGuard(Evaluator* e) : e_(e) {
  if (++e_->depth_ > e_->ctx_.limits.max_depth) {
    Fail("evaluation depth limit (" + std::to_string(e_->ctx_.limits.max_depth) + ") exceeded");
  }
}

Evaluator::Evaluator(const EvalContext& ctx, const rapidjson::Value* resource)
    : ctx_(ctx), resource_(resource) {
  local_offset_ = ctx.utc_offset_minutes;
  if (resource_) {
    std::string_view type = InferType(*resource_);
    if (type.empty()) type = "Base";
    auto item = Item::FromModel(resource_, nullptr, type);
    if (item) resource_collection_.push_back(std::move(*item));
  }
}

int Evaluator::LocalOffset() {
  if (!local_offset_) local_offset_ = ProcessOffsetMinutes(ctx_.now);
  return *local_offset_;
}

Collection Evaluator::Run(const Node& root) {
  Frame f;
  if (!resource_collection_.empty()) f.this_item = &resource_collection_[0];
  return Eval(root, resource_collection_, f);
}

void Evaluator::Step(uint64_t n) {
  steps_ += n;
  if (steps_ > ctx_.limits.max_steps) {
    Fail("evaluation step limit (" + std::to_string(ctx_.limits.max_steps) + ") exceeded");
  }
}

void Evaluator::Push(Collection* out, Item item) {
  if (out->size() >= ctx_.limits.max_collection_size) {
    Fail("collection size limit (" + std::to_string(ctx_.limits.max_collection_size) +
         ") exceeded");
  }
  Step();
  out->push_back(std::move(item));
}

const Item* Evaluator::Single(Focus c, const char* what) {
  if (c.empty()) return nullptr;
  if (c.size() > 1) {
    Fail(std::string(what) + " expects a single item but got " + std::to_string(c.size()));
  }
  return &c[0];
}

std::optional<bool> Evaluator::ToLogic(Focus c, const char* what) {
  const Item* i = Single(c, what);
  if (!i) return std::nullopt;
  if (i->kind() == ValueKind::kBoolean) return i->boolean();
  return true;  // singleton evaluation of collections: a single non-boolean item is true
}

bool Evaluator::Contains(Focus c, const Item& item) {
  for (const Item& x : c) {
    Step();
    auto e = internal::Equal(x, item);
    if (e && *e) return true;
  }
  return false;
}

std::optional<bool> Evaluator::CollectionEqual(Focus a, Focus b) {
  if (a.empty() || b.empty()) return std::nullopt;
  if (a.size() != b.size()) return false;
  bool all = true;
  for (size_t i = 0; i < a.size(); ++i) {
    Step();
    auto e = internal::Equal(a[i], b[i]);
    if (!e) return std::nullopt;
    if (!*e) all = false;
  }
  return all;
}

bool Evaluator::CollectionEquivalent(Focus a, Focus b) {
  if (a.empty() && b.empty()) return true;
  if (a.size() != b.size()) return false;
  std::vector<bool> used(b.size(), false);
  for (const Item& x : a) {
    bool found = false;
    for (size_t j = 0; j < b.size(); ++j) {
      Step();
      if (!used[j] && internal::Equivalent(x, b[j])) {
        used[j] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

Collection Evaluator::EvalArg(const Node& n, const Frame& f) {
  Focus focus = f.this_item ? Focus(f.this_item, 1) : Focus();
  size_t scope = defined_.size();
  Collection r = Eval(n, focus, f);
  defined_.resize(scope);
  return r;
}

Evaluator::Focus Evaluator::EvalView(const Node& n, Focus focus, const Frame& f,
                                     Collection* storage) {
  if (n.folded) return Focus(*n.folded);
  if (n.kind == NodeKind::kLiteral) return Focus(&n.literal, 1);
  *storage = Eval(n, focus, f);
  return Focus(*storage);
}

Collection Evaluator::Eval(const Node& n, Focus focus, const Frame& f) {
  DepthGuard guard(this);
  Step();
  if (n.folded) return *n.folded;
  switch (n.kind) {
    case NodeKind::kLiteral:
      return Collection{n.literal};
    case NodeKind::kEmpty:
      return {};
    case NodeKind::kMember: {
      Collection out;
      out.reserve(focus.size());
      bool any_known = focus.empty();
      for (const Item& it : focus) any_known = Member(it, n.name, &out) || any_known;
      // In strict mode an element name that none of the (completely modelled) items can
      // have is an error: name.given1, Observation.valueQuantity.
      if (!any_known && ctx_.strict_model) {
        Fail("'" + n.name + "' is not an element of " + std::string(focus[0].fhir_type()));
      }
      return out;
    }
    case NodeKind::kFunction:
      return CallFunction(n, focus, f);
    case NodeKind::kThis:
      if (f.this_item) return Collection{*f.this_item};
      return {};
    case NodeKind::kIndex:
      if (f.index >= 0) return Collection{Item::Integer(f.index)};
      return {};
    case NodeKind::kTotal:
      if (f.total) return *f.total;
      return {};
    case NodeKind::kVariable:
      return Variable(n.name);
    case NodeKind::kParen:
      return Eval(*n.args[0], focus, f);
    case NodeKind::kInvoke: {
      const Node& right = *n.args[1];
      if (ctx_.check_ordered_functions && right.kind == NodeKind::kFunction &&
          (right.fn == internal::kSkip || right.fn == internal::kTake ||
           right.fn == internal::kFirst || right.fn == internal::kLast ||
           right.fn == internal::kTail)) {
        const Node& l = *n.args[0];
        if (l.kind == NodeKind::kInvoke && l.args[1]->kind == NodeKind::kFunction &&
            (l.args[1]->fn == internal::kChildren || l.args[1]->fn == internal::kDescendants)) {
          Fail(right.name + "() needs an ordered collection, but " + l.args[1]->name +
               "() is unordered");
        }
      }
      Collection left = Eval(*n.args[0], focus, f);
      if (left.empty() && right.kind == NodeKind::kMember && ctx_.strict_model) {
        CheckStaticMember(*n.args[0], right.name);
      }
      return Eval(right, left, f);
    }
    case NodeKind::kIndexer: {
      Collection c = Eval(*n.args[0], focus, f);
      Collection idx = Eval(*n.args[1], focus, f);
      const Item* i = Single(idx, "an index");
      if (!i) return {};
      if (i->kind() != ValueKind::kInteger) Fail("an index must be an integer");
      if (i->integer() < 0 || static_cast<size_t>(i->integer()) >= c.size()) return {};
      return Collection{c[static_cast<size_t>(i->integer())]};
    }
    case NodeKind::kUnary:
      return EvalUnary(n, focus, f);
    case NodeKind::kBinary:
      return EvalBinary(n, focus, f);
    case NodeKind::kTypeOp: {
      Collection c = Eval(*n.args[0], focus, f);
      if (n.op == Op::kIs) {
        const Item* i = Single(c, "'is'");
        if (!i) return {};
        return Collection{Item::Boolean(IsType(*i, n.type, false))};
      }
      const Item* i = Single(c, "'as'");
      if (!i || !IsType(*i, n.type, true)) return {};
      return Collection{*i};
    }
  }
  return {};
}

Collection Evaluator::EvalUnary(const Node& n, Focus focus, const Frame& f) {
  Collection c = Eval(*n.args[0], focus, f);
  const Item* i = Single(c, "unary operator");
  if (!i) return {};
  if (n.op == Op::kPlus) {
    if (internal::IsNumeric(*i) || i->kind() == ValueKind::kQuantity) return c;
    Fail("unary '+' cannot be applied to " + std::string(i->TypeName()));
  }
  switch (i->kind()) {
    case ValueKind::kInteger:
      if (i->integer() == INT64_MIN) return {};
      return Collection{Item::Integer(-i->integer())};
    case ValueKind::kDecimal: {
      auto d = Decimal::Negate(i->decimal());
      if (!d) return {};
      return Collection{Item::Dec(*d)};
    }
    case ValueKind::kQuantity: {
      Quantity q = i->quantity();
      auto d = Decimal::Negate(q.value);
      if (!d) return {};
      q.value = *d;
      return Collection{Item::Qty(q)};
    }
    default:
      Fail("unary '-' cannot be applied to " + std::string(i->TypeName()));
  }
}

namespace {

Collection Boolean(std::optional<bool> b) {
  return b ? Collection{Item::Boolean(*b)} : Collection{};
}

}  // namespace

Collection Evaluator::EvalLogic(const Node& n, Focus focus, const Frame& f) {
  switch (n.op) {
    case Op::kAnd: {
      auto l = ToLogic(Eval(*n.args[0], focus, f), "'and'");
      if (l && !*l) return Boolean(false);
      auto r = ToLogic(Eval(*n.args[1], focus, f), "'and'");
      if (r && !*r) return Boolean(false);
      if (l && r) return Boolean(true);
      return {};
    }
    case Op::kOr: {
      auto l = ToLogic(Eval(*n.args[0], focus, f), "'or'");
      if (l && *l) return Boolean(true);
      auto r = ToLogic(Eval(*n.args[1], focus, f), "'or'");
      if (r && *r) return Boolean(true);
      if (l && r) return Boolean(false);
      return {};
    }
    case Op::kXor: {
      auto l = ToLogic(Eval(*n.args[0], focus, f), "'xor'");
      auto r = ToLogic(Eval(*n.args[1], focus, f), "'xor'");
      if (l && r) return Boolean(*l != *r);
      return {};
    }
    default: {  // Op::kImplies
      auto l = ToLogic(Eval(*n.args[0], focus, f), "'implies'");
      if (l && !*l) return Boolean(true);
      auto r = ToLogic(Eval(*n.args[1], focus, f), "'implies'");
      if (r && *r) return Boolean(true);
      if (l && r) return Boolean(false);
      return {};
    }
  }
}

Collection Evaluator::EvalComparison(Op op, Focus a, Focus b) {
  const Item* x = Single(a, "comparison");
  const Item* y = Single(b, "comparison");
  if (!x || !y) return {};
  bool temporal = x->kind() == ValueKind::kDateTime && y->kind() == ValueKind::kDateTime;
  auto c = internal::CompareOrder(*x, *y, temporal ? LocalOffset() : 0);
  if (!c) return {};
  switch (op) {
    case Op::kLt:
      return Boolean(*c < 0);
    case Op::kLe:
      return Boolean(*c <= 0);
    case Op::kGt:
      return Boolean(*c > 0);
    default:
      return Boolean(*c >= 0);
  }
}

Collection Evaluator::EvalBinary(const Node& n, Focus focus, const Frame& f) {
  switch (n.op) {
    case Op::kAnd:
    case Op::kOr:
    case Op::kXor:
    case Op::kImplies:
      return EvalLogic(n, focus, f);
    default:
      break;
  }
  Collection a_storage, b_storage;
  Focus a = EvalView(*n.args[0], focus, f, &a_storage);
  Focus b = EvalView(*n.args[1], focus, f, &b_storage);
  switch (n.op) {
    case Op::kUnion: {
      Collection out;
      for (const Item& x : a) {
        if (!Contains(out, x)) Push(&out, x);
      }
      for (const Item& x : b) {
        if (!Contains(out, x)) Push(&out, x);
      }
      return out;
    }
    case Op::kEq:
      return Boolean(CollectionEqual(a, b));
    case Op::kNe: {
      auto e = CollectionEqual(a, b);
      return Boolean(e ? std::optional<bool>(!*e) : std::nullopt);
    }
    case Op::kEquiv:
      return Boolean(CollectionEquivalent(a, b));
    case Op::kNotEquiv:
      return Boolean(!CollectionEquivalent(a, b));
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe:
      return EvalComparison(n.op, a, b);
    case Op::kIn: {
      const Item* x = Single(a, "'in'");
      if (!x) return {};
      return Boolean(Contains(b, *x));
    }
    case Op::kContains: {
      const Item* y = Single(b, "'contains'");
      if (!y) return {};
      return Boolean(Contains(a, *y));
    }
    case Op::kConcat: {
      const Item* x = Single(a, "'&'");
      const Item* y = Single(b, "'&'");
      std::string s;
      if (x) s += internal::ToStringValue(*x).value_or("");
      if (y) s += internal::ToStringValue(*y).value_or("");
      if (s.size() > ctx_.limits.max_string_length) Fail("string length limit exceeded");
      Step(s.size() / 16);
      return Collection{Item::String(std::move(s))};
    }
    default: {
      const Item* x = Single(a, "arithmetic operator");
      const Item* y = Single(b, "arithmetic operator");
      if (!x || !y) return {};
      auto r = internal::Arithmetic(n.op, *x, *y);
      if (!r) return {};
      if (r->kind() == ValueKind::kString && r->str().size() > ctx_.limits.max_string_length) {
        Fail("string length limit exceeded");
      }
      if (r->kind() == ValueKind::kString) Step(r->str().size() / 16);
      return Collection{std::move(*r)};
    }
  }
}

Collection Evaluator::Variable(const std::string& name) {
  if (name == "context" || name == "resource" || name == "rootResource") {
    return resource_collection_;
  }
  if (name == "ucum") return Collection{Item::String("http://unitsofmeasure.org")};
  if (name == "sct") return Collection{Item::String("http://snomed.info/sct")};
  if (name == "loinc") return Collection{Item::String("http://loinc.org")};
  if (name.rfind("vs-", 0) == 0) {
    return Collection{Item::String("http://hl7.org/fhir/ValueSet/" + name.substr(3))};
  }
  if (name.rfind("ext-", 0) == 0) {
    return Collection{Item::String("http://hl7.org/fhir/StructureDefinition/" + name.substr(4))};
  }
  for (size_t i = defined_.size(); i-- > 0;) {
    if (defined_[i].first == name) return defined_[i].second;
  }
  auto it = ctx_.variables.find(name);
  if (it != ctx_.variables.end()) return it->second;
  Fail("unknown variable %" + name);
}

const internal::Node& RootOf(const Expression& e) { return *e.root_; }

namespace {

EvalResult RunEvaluation(const Expression& expr, const rapidjson::Value* resource,
                         const EvalContext& ctx) {
  EvalResult r;
  try {
    Evaluator ev(ctx, resource);
    r.items = ev.Run(RootOf(expr));
  } catch (const EvalFailure& f) {
    r.items.clear();
    r.error = EvalError{f.message};
  } catch (const std::bad_alloc&) {
    r.items.clear();
    r.error = EvalError{"out of memory"};
  } catch (const std::regex_error&) {
    r.items.clear();
    r.error = EvalError{"invalid regular expression"};
  } catch (const std::exception& e) {  // e.g. std::length_error from a library routine
    r.items.clear();
    r.error = EvalError{std::string("evaluation failed: ") + e.what()};
  }
  return r;
}

}  // namespace

EvalResult Evaluate(const Expression& expr, const rapidjson::Value& resource,
                    const EvalContext& ctx) {
  return RunEvaluation(expr, &resource, ctx);
}

EvalResult EvaluateWithoutResource(const Expression& expr, const EvalContext& ctx) {
  return RunEvaluation(expr, nullptr, ctx);
}

}  // namespace fhir::fhirpath
