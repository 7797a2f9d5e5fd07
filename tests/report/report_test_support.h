// Helpers for the report tests: read report.json back, and try to recover suppressed counts
// from everything published (row and column totals, the same count in other tables).
#pragma once

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace sdoh::report::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline const rapidjson::Value* FindTable(const rapidjson::Document& doc, const std::string& id) {
  for (const auto& t : doc["tables"].GetArray()) {
    if (id == t["id"].GetString()) return &t;
  }
  return nullptr;
}

inline const rapidjson::Value* FindRow(const rapidjson::Value& table, const std::string& label) {
  for (const auto& r : table["rows"].GetArray()) {
    if (label == r["label"].GetString()) return &r;
  }
  return nullptr;
}

// A row's counts as text: numbers as digits, suppressed cells as published ("<11", ...).
inline std::vector<std::string> RowCounts(const rapidjson::Value& row) {
  std::vector<std::string> out;
  for (const auto& c : row["counts"].GetArray()) {
    out.push_back(c.IsString() ? c.GetString() : std::to_string(c.GetInt64()));
  }
  return out;
}

inline std::vector<std::string> Counts(const rapidjson::Document& doc, const std::string& table,
                                       const std::string& row) {
  const rapidjson::Value* t = FindTable(doc, table);
  if (t == nullptr) return {"no table " + table};
  const rapidjson::Value* r = FindRow(*t, row);
  if (r == nullptr) return {"no row " + row};
  return RowCounts(*r);
}

// What an attacker holding report.json can derive. Every table's rows read
// [part, part, total]; stratified tables (every table with an "All patients" row that is not
// the coverage table) also have columns summing to that row; and the overall counts
// (screened, not screened, patients) are the same quantities wherever they appear. Unknowns
// are the suppressed cells (shared quantities merged); published cells are constants. Gaussian
// elimination then tells which unknowns are determined. Returns "table/row/column" of each
// suppressed cell that can be recovered (empty: none), and counts the unknowns in *unknowns.
inline std::vector<std::string> RecoverableCells(const rapidjson::Document& doc,
                                                 int* unknowns = nullptr) {
  struct Term {
    bool known = false;
    double value = 0;
    int var = -1;
  };
  std::map<std::string, int> var_of;  // shared quantity or cell name → variable
  std::vector<std::string> names;
  auto term = [&](const rapidjson::Value& cell, const std::string& name,
                  const std::string& shared) -> Term {
    if (!cell.IsString()) return {true, static_cast<double>(cell.GetInt64()), -1};
    const std::string key = shared.empty() ? name : shared;
    auto [it, added] = var_of.try_emplace(key, static_cast<int>(names.size()));
    if (added) names.push_back(name);
    return {false, 0, it->second};
  };
  std::vector<std::vector<Term>> eqs;  // each: t0 + ... + t(n-2) == t(n-1)
  for (const auto& t : doc["tables"].GetArray()) {
    const std::string id = t["id"].GetString();
    const bool margins = id != "coverage" && id != "positive";
    const bool overall = id != "interpreter";
    std::vector<std::vector<Term>> grid;
    for (const auto& r : t["rows"].GetArray()) {
      const std::string label = r["label"].GetString();
      const bool all = label == "All patients";
      std::vector<Term> row;
      for (rapidjson::SizeType c = 0; c < r["counts"].Size(); ++c) {
        std::string shared;
        if (overall && (all || (id == "positive" && c == 2))) {
          shared = (id == "positive" || c == 0) ? "screened" : c == 1 ? "not-screened" : "patients";
        }
        row.push_back(term(r["counts"][c], id + "/" + label + "/" + std::to_string(c), shared));
      }
      eqs.push_back(row);
      grid.push_back(row);
    }
    if (margins && !grid.empty()) {
      for (size_t c = 0; c < grid.back().size(); ++c) {
        std::vector<Term> col;
        for (const auto& row : grid) col.push_back(row[c]);  // last row is the margin
        eqs.push_back(col);
      }
    }
  }
  const int n = static_cast<int>(names.size());
  if (unknowns != nullptr) *unknowns = n;
  // Matrix rows: sum(parts) - total = 0 → coefficients on unknowns, constant on the right.
  std::vector<std::vector<double>> m;
  for (const auto& e : eqs) {
    std::vector<double> row(n + 1, 0.0);
    for (size_t i = 0; i < e.size(); ++i) {
      const double sign = i + 1 == e.size() ? -1.0 : 1.0;
      if (e[i].known) {
        row[n] -= sign * e[i].value;
      } else {
        row[e[i].var] += sign;
      }
    }
    m.push_back(row);
  }
  // Reduced row echelon form.
  int lead = 0;
  std::vector<int> pivot_rows;
  for (int col = 0; col < n && lead < static_cast<int>(m.size()); ++col) {
    int best = lead;
    for (int r = lead; r < static_cast<int>(m.size()); ++r) {
      if (std::fabs(m[r][col]) > std::fabs(m[best][col])) best = r;
    }
    if (std::fabs(m[best][col]) < 1e-9) continue;
    std::swap(m[best], m[lead]);
    const double p = m[lead][col];
    for (double& v : m[lead]) v /= p;
    for (int r = 0; r < static_cast<int>(m.size()); ++r) {
      if (r == lead || std::fabs(m[r][col]) < 1e-12) continue;
      const double f = m[r][col];
      for (int k = 0; k <= n; ++k) m[r][k] -= f * m[lead][k];
    }
    ++lead;
  }
  std::vector<std::string> recovered;
  for (int r = 0; r < lead; ++r) {
    int nonzero = 0, var = -1;
    for (int k = 0; k < n; ++k) {
      if (std::fabs(m[r][k]) > 1e-9) {
        ++nonzero;
        var = k;
      }
    }
    if (nonzero == 1) recovered.push_back(names[var]);
  }
  return recovered;
}

}  // namespace sdoh::report::testing
