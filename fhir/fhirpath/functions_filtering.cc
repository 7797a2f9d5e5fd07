// Functions that evaluate an argument per input item: filtering and projection (FHIRPath
// §5.2: where, select, repeat, ofType), repeatAll, aggregate (§7) and sort (2.1).
#include <algorithm>

#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath::internal {
namespace {

Collection Where(FunctionCall& c) {
  Collection out;
  for (size_t i = 0; i < c.input.size(); ++i) {
    auto b = c.ToLogic(c.Lambda(0, c.input[i], static_cast<int64_t>(i)), "where()");
    if (b && *b) c.Push(&out, c.input[i]);
  }
  return out;
}

Collection Select(FunctionCall& c) {
  Collection out;
  for (size_t i = 0; i < c.input.size(); ++i) {
    for (Item& r : c.Lambda(0, c.input[i], static_cast<int64_t>(i))) c.Push(&out, std::move(r));
  }
  return out;
}

// repeat() keeps each item once; repeatAll() keeps duplicates.
Collection Repeat(FunctionCall& c) {
  // `out` doubles as the work queue: items are projected in the order they were found.
  Collection out;
  std::vector<const rapidjson::Value*> seen;  // sorted; model objects already in `out`
  auto add = [&](Item&& r) {
    if (c.fn == kRepeat) {
      if (r.node() && r.kind() == ValueKind::kObject) {
        auto pos = std::lower_bound(seen.begin(), seen.end(), r.node());
        if (pos != seen.end() && *pos == r.node()) return;
        seen.insert(pos, r.node());
      } else if (c.Contains(out, r)) {
        return;
      }
    }
    c.Push(&out, std::move(r));
  };
  for (size_t i = 0; i < c.input.size(); ++i) {
    for (Item& r : c.Lambda(0, c.input[i], static_cast<int64_t>(i))) add(std::move(r));
  }
  for (size_t q = 0; q < out.size(); ++q) {
    // Project first, append after: `out` must not grow while out[q] is the focus.
    Collection projected = c.Lambda(0, out[q], static_cast<int64_t>(q));
    for (Item& r : projected) add(std::move(r));
  }
  return out;
}

Collection OfType(FunctionCall& c) {
  Collection out;
  for (const Item& i : c.input) {
    if (c.IsType(i, c.node.type, true)) c.Push(&out, i);
  }
  return out;
}

Collection Aggregate(FunctionCall& c) {
  Collection total = c.node.args.size() > 1 ? c.args[1] : Collection{};
  for (size_t i = 0; i < c.input.size(); ++i) {
    FunctionCall::Frame inner;
    inner.this_item = &c.input[i];
    inner.index = static_cast<int64_t>(i);
    inner.total = &total;
    Collection focus{c.input[i]};
    size_t scope = c.defined().size();
    Collection next = c.Eval(*c.node.args[0], focus, inner);
    c.defined().resize(scope);
    total = std::move(next);
  }
  return total;
}

// sort(keys...): a key written `-expr` sorts descending. Stable.
Collection Sort(FunctionCall& c) {
  struct Key {
    const Node* expr;
    bool descending;
  };
  std::vector<Key> keys;
  for (const auto& a : c.node.args) {
    if (a->kind == NodeKind::kUnary && a->op == Op::kMinus) {
      keys.push_back({a->args[0].get(), true});
    } else {
      keys.push_back({a.get(), false});
    }
  }
  std::vector<std::vector<Collection>> values(c.input.size());
  for (size_t i = 0; i < c.input.size(); ++i) {
    FunctionCall::Frame inner;
    inner.this_item = &c.input[i];
    inner.index = static_cast<int64_t>(i);
    Collection focus{c.input[i]};
    if (keys.empty()) {
      values[i].push_back(focus);
      continue;
    }
    for (const Key& k : keys) {
      Collection v = c.Eval(*k.expr, focus, inner);
      if (v.size() > 1) Fail("sort() key must be a single item");
      values[i].push_back(std::move(v));
    }
  }
  std::vector<size_t> order(c.input.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto cmp = [&](size_t x, size_t y) {
    size_t nk = keys.empty() ? 1 : keys.size();
    for (size_t k = 0; k < nk; ++k) {
      const Collection& a = values[x][k];
      const Collection& b = values[y][k];
      bool desc = !keys.empty() && keys[k].descending;
      // Empty keys sort after values ascending, before them descending.
      if (a.empty() != b.empty()) return a.empty() == desc;
      if (a.empty()) continue;
      c.Step();
      auto o = CompareOrder(a[0], b[0], c.LocalOffset());
      if (!o || *o == 0) continue;
      return desc ? *o > 0 : *o < 0;
    }
    return false;
  };
  std::stable_sort(order.begin(), order.end(), cmp);
  Collection out;
  for (size_t i : order) c.Push(&out, c.input[i]);
  return out;
}

}  // namespace

Collection CallFilteringFunction(FunctionCall& c) {
  switch (c.fn) {
    case kWhere:
      return Where(c);
    case kSelect:
      return Select(c);
    case kRepeat:
    case kRepeatAll:
      return Repeat(c);
    case kOfType:
      return OfType(c);
    case kAggregate:
      return Aggregate(c);
    case kSort:
      return Sort(c);
    default:
      NotImplemented(c);
  }
}

}  // namespace fhir::fhirpath::internal
