#include "plugin/report/suppression.h"

#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

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

// Shared-key propagation and pairwise protection until nothing changes.
void Propagate(const std::vector<CountTable*>& tables) {
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

struct TableCell {
  size_t table = 0;
  CellRef ref;
};

// The suppressed cells whose value follows from the published ones: unknowns are the
// suppressed cells (one per shared key), every relation an equation; after Gauss-Jordan
// elimination an unknown is determined when its pivot row has no other unknown. Coefficients
// start as 0/±1; a tolerance absorbs rounding of the fractions elimination makes.
std::vector<TableCell> Recoverable(const std::vector<CountTable*>& tables) {
  std::map<std::string, size_t> var_of_shared;
  std::map<std::tuple<size_t, size_t, size_t>, size_t> var_of_cell;
  std::vector<TableCell> cell_of_var;
  auto var = [&](size_t ti, CellRef r) -> size_t {
    const Cell& c = tables[ti]->at(r);
    if (!c.shared.empty()) {
      auto [it, added] = var_of_shared.try_emplace(c.shared, cell_of_var.size());
      if (added) cell_of_var.push_back({ti, r});
      return it->second;
    }
    auto [it, added] = var_of_cell.try_emplace({ti, r.row, r.col}, cell_of_var.size());
    if (added) cell_of_var.push_back({ti, r});
    return it->second;
  };
  // Equations as sparse lists first (the number of unknowns is known only at the end).
  std::vector<std::vector<std::pair<size_t, double>>> terms;
  for (size_t ti = 0; ti < tables.size(); ++ti) {
    for (const Relation& rel : tables[ti]->relations) {
      std::vector<std::pair<size_t, double>> eq;
      auto add = [&](CellRef r, double sign) {
        if (tables[ti]->at(r).suppressed()) eq.emplace_back(var(ti, r), sign);
      };
      for (const CellRef& part : rel.parts) add(part, 1.0);
      add(rel.total, -1.0);
      if (!eq.empty()) terms.push_back(std::move(eq));
    }
  }
  const size_t n = cell_of_var.size();
  std::vector<std::vector<double>> m;
  for (const auto& eq : terms) {
    std::vector<double> row(n, 0.0);
    for (const auto& [v, sign] : eq) row[v] += sign;
    m.push_back(std::move(row));
  }
  constexpr double kEps = 1e-9;
  size_t lead = 0;
  for (size_t col = 0; col < n && lead < m.size(); ++col) {
    size_t best = lead;
    for (size_t r = lead; r < m.size(); ++r) {
      if (std::fabs(m[r][col]) > std::fabs(m[best][col])) best = r;
    }
    if (std::fabs(m[best][col]) < kEps) continue;
    std::swap(m[best], m[lead]);
    const double p = m[lead][col];
    for (double& x : m[lead]) x /= p;
    for (size_t r = 0; r < m.size(); ++r) {
      if (r == lead || std::fabs(m[r][col]) < kEps) continue;
      const double f = m[r][col];
      for (size_t k = col; k < n; ++k) m[r][k] -= f * m[lead][k];
    }
    ++lead;
  }
  std::vector<TableCell> out;
  for (size_t r = 0; r < lead; ++r) {
    size_t nonzero = 0, only = 0;
    for (size_t k = 0; k < n && nonzero < 2; ++k) {
      if (std::fabs(m[r][k]) > kEps) {
        ++nonzero;
        only = k;
      }
    }
    if (nonzero == 1) out.push_back(cell_of_var[only]);
  }
  return out;
}

// Hides one more published cell next to `target`: in a relation of its table that holds it, the
// smallest non-zero published member, else a published zero; failing that, the smallest
// non-zero published cell of the table, else of any table. False when nothing is left to hide.
bool HideNextTo(const std::vector<CountTable*>& tables, const TableCell& target) {
  Cell* pick = nullptr;
  auto consider = [&pick](Cell& c) {
    if (c.suppressed()) return;
    if (pick == nullptr || (pick->value == 0 && c.value > 0) ||
        (c.value > 0 && c.value < pick->value)) {
      pick = &c;
    }
  };
  CountTable& t = *tables[target.table];
  for (const Relation& rel : t.relations) {
    bool holds = rel.total.row == target.ref.row && rel.total.col == target.ref.col;
    for (const CellRef& p : rel.parts)
      holds = holds || (p.row == target.ref.row && p.col == target.ref.col);
    if (!holds) continue;
    for (const CellRef& p : rel.parts) consider(t.at(p));
    consider(t.at(rel.total));
  }
  for (size_t scope = 0; pick == nullptr && scope < 2; ++scope) {
    for (size_t ti = 0; ti < tables.size(); ++ti) {
      if (scope == 0 && ti != target.table) continue;
      for (auto& row : tables[ti]->cells) {
        for (Cell& c : row) consider(c);
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
  // Pairwise protection is not enough on its own: a combination of rows and columns can still
  // pin a hidden count (e.g. the totals of a column of small strata minus their other parts).
  // So the published equations are solved exactly as an attacker would, and each count they
  // still determine gets one more cell hidden beside it, until none is determined.
  for (Propagate(tables);;) {
    std::vector<TableCell> exposed = Recoverable(tables);
    if (exposed.empty() || !HideNextTo(tables, exposed.front())) break;
    Propagate(tables);
  }
}

}  // namespace sdoh::report
