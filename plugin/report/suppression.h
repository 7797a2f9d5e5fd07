// Small-cell suppression with complementary suppression over tables of counts linked by
// additive relations (row and column totals) and by shared cells (the same count published in
// several tables, such as the number of patients screened).
//
// Primary: every count in [1, min_cell - 1] is suppressed. Complementary: until nothing
// changes, (a) a count suppressed in one table is suppressed wherever the same shared key
// appears, and (b) every relation `parts == total` with exactly one suppressed member gets a
// second one (the smallest non-zero published part, else the total, else a zero part), so no
// suppressed count equals a published total minus published counts. Then an exact audit: all
// relations of all tables are solved as an attacker would (Gauss-Jordan over the suppressed
// cells, shared keys as one unknown); while any suppressed count is still determined, one more
// cell beside it is hidden and (a) and (b) run again. Linear inference only: bounds (a hidden
// count is 1..min_cell-1 or a non-negative integer) are not used. Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sdoh::report {

enum class Suppression : uint8_t { kNone, kSmallCell, kComplementary };

struct Cell {
  int64_t value = 0;
  Suppression suppression = Suppression::kNone;
  std::string shared;  // non-empty: the same count appears under this key in other tables

  bool suppressed() const { return suppression != Suppression::kNone; }
};

struct CellRef {
  size_t row = 0;
  size_t col = 0;
};

// sum(parts) == total.
struct Relation {
  std::vector<CellRef> parts;
  CellRef total;
};

struct CountTable {
  std::vector<std::vector<Cell>> cells;  // [row][column]
  std::vector<Relation> relations;

  Cell& at(CellRef r) { return cells[r.row][r.col]; }
  const Cell& at(CellRef r) const { return cells[r.row][r.col]; }
};

// REQUIRES: min_cell >= 1 (1 suppresses nothing).
void Suppress(const std::vector<CountTable*>& tables, int64_t min_cell);

}  // namespace sdoh::report
