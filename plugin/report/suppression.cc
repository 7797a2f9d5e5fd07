#include "plugin/report/suppression.h"

#include <set>

namespace sdoh::report {

namespace {

bool Protect(CountTable& t, const Relation& rel) {
  int suppressed = t.at(rel.total).suppressed() ? 1 : 0;
  for (const CellRef& p : rel.parts) suppressed += t.at(p).suppressed() ? 1 : 0;
  if (suppressed != 1) return false;
  Cell* pick = nullptr;
  for (const CellRef& p : rel.parts) {
    Cell& c = t.at(p);
    if (!c.suppressed() && c.value > 0 && (pick == nullptr || c.value < pick->value)) pick = &c;
  }
  if (pick == nullptr && !t.at(rel.total).suppressed()) pick = &t.at(rel.total);
  if (pick == nullptr) {
    for (const CellRef& p : rel.parts) {
      if (!t.at(p).suppressed()) {
        pick = &t.at(p);
        break;
      }
    }
  }
  if (pick == nullptr) return false;
  pick->suppression = Suppression::kComplementary;
  return true;
}

}  // namespace

void Suppress(const std::vector<CountTable*>& tables, int64_t min_cell) {
  for (CountTable* t : tables) {
    for (auto& row : t->cells) {
      for (Cell& c : row) {
        if (c.value >= 1 && c.value < min_cell) c.suppression = Suppression::kSmallCell;
      }
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    std::set<std::string> hidden;
    for (CountTable* t : tables) {
      for (auto& row : t->cells) {
        for (Cell& c : row) {
          if (c.suppressed() && !c.shared.empty()) hidden.insert(c.shared);
        }
      }
    }
    for (CountTable* t : tables) {
      for (auto& row : t->cells) {
        for (Cell& c : row) {
          if (!c.suppressed() && !c.shared.empty() && hidden.count(c.shared) != 0) {
            c.suppression = Suppression::kComplementary;
            changed = true;
          }
        }
      }
    }
    for (CountTable* t : tables) {
      for (const Relation& rel : t->relations) changed = Protect(*t, rel) || changed;
    }
  }
}

}  // namespace sdoh::report
