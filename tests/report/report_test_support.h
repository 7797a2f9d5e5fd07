// Helpers for the report tests: read report.json back, try to recover suppressed counts from
// everything published (row and column totals, the same count in other tables), and check that
// report.html and the CSV files show exactly the numbers of report.json.
#pragma once

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace sdoh::report::testing {

using Strings = std::vector<std::string>;

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

inline std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

// A row's median under `key` with one decimal, "null" when not published, else what is missing.
inline std::string MedianValue(const rapidjson::Document& doc, const std::string& table,
                               const std::string& row, const char* key = "median_days_open") {
  const rapidjson::Value* t = FindTable(doc, table);
  if (t == nullptr) return "no table " + table;
  const rapidjson::Value* r = FindRow(*t, row);
  if (r == nullptr) return "no row " + row;
  if (!r->HasMember(key)) return std::string("no ") + key;
  const rapidjson::Value& m = (*r)[key];
  if (m.IsNull()) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", m.GetDouble());
  return buf;
}

inline std::vector<std::string> Counts(const rapidjson::Document& doc, const std::string& table,
                                       const std::string& row) {
  const rapidjson::Value* t = FindTable(doc, table);
  if (t == nullptr) return {"no table " + table};
  const rapidjson::Value* r = FindRow(*t, row);
  if (r == nullptr) return {"no row " + row};
  return RowCounts(*r);
}

// The equations of one loop table (see RecoverableCells), each [part, ..., part, total].
template <typename TermFn, typename Term>
void LoopTableEquationsImpl(const rapidjson::Value& t, TermFn& term,
                            std::vector<std::vector<Term>>* eqs) {
  const std::string id = t["id"].GetString();
  const rapidjson::SizeType rows = t["rows"].Size();
  const char* stages[] = {"positive", "referred", "accepted", "completed", "bounced", "stalled"};
  std::vector<std::vector<Term>> grid;
  for (rapidjson::SizeType ri = 0; ri < rows; ++ri) {
    const auto& r = t["rows"][ri];
    const std::string label = r["label"].GetString();
    const bool margin = ri + 1 == rows;
    std::vector<Term> row;
    for (rapidjson::SizeType c = 0; c < r["counts"].Size(); ++c) {
      std::string shared;
      if (id == "funnel") {
        if (c == 0) shared = "screened";
        if (c == 1) shared = margin ? "funnel-positive" : "positive-" + label;
        if (c > 1 && margin) shared = std::string("funnel-") + stages[c - 1];
      } else if (id.rfind("funnel-", 0) == 0) {
        if (margin) shared = std::string("funnel-") + stages[c];
      } else if (id == "bounced-reasons") {
        if (c == 4 || (margin && c == 3)) shared = "bounced-referrals";
      } else if (id == "outreach") {
        if (c == 1) shared = "patients";
      }
      row.push_back(term(r["counts"][c], id + "/" + label + "/" + std::to_string(c), shared));
    }
    if (id == "bounced-reasons") eqs->push_back({row[0], row[1], row[2], row[3]});
    grid.push_back(row);
  }
  if (id == "funnel" || grid.empty()) return;  // shared cells only, no sums
  size_t columns = id == "bounced-reasons" ? 4 : id == "outreach" ? 1 : grid.back().size();
  for (size_t c = 0; c < columns; ++c) {
    std::vector<Term> col;
    for (const auto& row : grid) col.push_back(row[c]);  // last row is the margin
    eqs->push_back(col);
  }
}

// What an attacker holding report.json can derive. Every table's rows read
// [part, ..., part, total]; stratified tables (all but coverage and positive, whose last row is
// the margin: "All patients" or "All referrals") also have columns summing to that row. The
// same quantity published in several tables is one unknown: the overall counts (screened, not
// screened, patients) of the coverage, positive and strata tables; the margins of the referral
// tables (one per status and the total); the interpreter-need totals per language of the two
// interpreter tables. Unknowns are the suppressed cells; published cells are constants.
// Gaussian elimination then tells which unknowns are determined. Returns "table/row/column" of
// each suppressed cell that can be recovered (empty: none), and counts the unknowns in
// *unknowns. The loop tables (issue 15 item 5) have their own sums: the funnels' stages do not
// add up along a row (each is a subset of the one before), only their columns over the strata
// add up to the margin, whose counts are the same quantities as the per-need funnel's "Any
// need" row; a need's positive count is the positive table's; bounced reasons read
// rejected + failed + cancelled = bounced, with columns summing to the margin; the outreach
// backlog's reasons add up to "All due" and its second column is the patients count.
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
    if (id == "funnel" || id.rfind("funnel-", 0) == 0 || id == "bounced-reasons" ||
        id == "outreach") {
      LoopTableEquationsImpl(t, term, &eqs);
      continue;
    }
    const bool margins = id != "coverage" && id != "positive";
    const bool referral = id.rfind("referrals", 0) == 0;
    const bool interpreter = id == "interpreter" || id == "interpreter-referrals";
    const rapidjson::SizeType last_row = t["rows"].Size() - 1;
    std::vector<std::vector<Term>> grid;
    for (rapidjson::SizeType ri = 0; ri < t["rows"].Size(); ++ri) {
      const auto& r = t["rows"][ri];
      const std::string label = r["label"].GetString();
      const bool all = margins ? ri == last_row : label == "All patients";
      std::vector<Term> row;
      for (rapidjson::SizeType c = 0; c < r["counts"].Size(); ++c) {
        std::string shared;
        if (referral) {
          if (all) shared = "referrals-" + std::to_string(c);
        } else if (interpreter) {
          if (c == 2) shared = "interpreter-need-" + label;
        } else if (id == "positive" && c == 0) {
          shared = "positive-" + label;
        } else if (all || (id == "positive" && c == 2)) {
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

// The text of each <td>/<th scope=row> of each table in the HTML, row by row.
inline std::vector<std::vector<Strings>> HtmlTables(const std::string& html) {
  std::vector<std::vector<Strings>> tables;
  const std::regex table_re("<table>([\\s\\S]*?)</table>");
  const std::regex row_re("<tr>([\\s\\S]*?)</tr>");
  const std::regex cell_re("<t[dh][^>]*>([\\s\\S]*?)</t[dh]>");
  for (std::sregex_iterator t(html.begin(), html.end(), table_re), end; t != end; ++t) {
    std::vector<Strings> rows;
    const std::string body = (*t)[1];
    for (std::sregex_iterator r(body.begin(), body.end(), row_re); r != end; ++r) {
      Strings cells;
      const std::string row = (*r)[1];
      for (std::sregex_iterator c(row.begin(), row.end(), cell_re); c != end; ++c) {
        cells.push_back((*c)[1]);
      }
      rows.push_back(cells);
    }
    tables.push_back(rows);
  }
  return tables;
}

inline std::string Unescape(std::string s) {
  for (auto [from, to] : {std::pair<std::string, std::string>{"&lt;", "<"},
                          {"&gt;", ">"},
                          {"&quot;", "\""},
                          {"&#39;", "'"},
                          {"&amp;", "&"}}) {
    for (size_t p; (p = s.find(from)) != std::string::npos;) s.replace(p, from.size(), to);
  }
  return s;
}

inline std::string Pct(const rapidjson::Value& v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v.GetDouble());
  return buf;
}

// A row's median as shown (`median` is one of the table's "medians"): the number, else
// "suppressed" when the count it is over is, else "—" (nothing to take a median of).
inline std::string MedianText(const rapidjson::Value& row, const rapidjson::Value& median) {
  const rapidjson::Value& m = row[median["key"].GetString()];
  if (!m.IsNull()) {
    char buf[32];
    const double d = m.GetDouble();
    std::snprintf(buf, sizeof buf,
                  d == static_cast<double>(static_cast<long long>(d)) ? "%.0f" : "%.1f", d);
    return buf;
  }
  return row["counts"][median["count_column"].GetUint()].IsString() ? "suppressed" : "—";
}

// What report.json says a table row shows: label, counts, rate, interval, [medians,] note.
inline Strings JsonRow(const rapidjson::Value& table, const rapidjson::Value& row) {
  Strings s = {row["label"].GetString()};
  for (const std::string& c : report::testing::RowCounts(row)) s.push_back(c);
  if (row["rate_percent"].IsNull()) {
    s.push_back("suppressed");
    s.push_back("suppressed");
  } else {
    s.push_back(Pct(row["rate_percent"]) + "%");
    s.push_back(Pct(row["ci_low_percent"]) + "–" + Pct(row["ci_high_percent"]) + "%");
  }
  if (table.HasMember("medians")) {
    for (const auto& m : table["medians"].GetArray()) s.push_back(MedianText(row, m));
  }
  s.push_back(row["note"].GetString());
  return s;
}

inline void CheckFilesAgree(const std::filesystem::path& out) {
  const std::string html = ReadFile((out / "report.html").string());
  rapidjson::Document doc;
  doc.Parse(ReadFile((out / "report.json").string()).c_str());
  ASSERT_FALSE(doc.HasParseError());
  // Self-contained: no scripts, no links, no external resources.
  for (const char* banned : {"<script", "http:", "https:", "src=", "href=", "url(", "@import",
                             "<link", "<iframe", "<object", "onload", "onclick"}) {
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
  }
  const size_t n = doc["tables"].Size();
  auto count = [&html](const std::string& needle) {
    size_t k = 0;
    for (size_t p = html.find(needle); p != std::string::npos; p = html.find(needle, p + 1)) ++k;
    return k;
  };
  EXPECT_EQ(count("<svg"), n);
  EXPECT_EQ(count("<table>"), n);
  EXPECT_EQ(count("<caption>"), n);
  auto tables = HtmlTables(html);
  ASSERT_EQ(tables.size(), n);
  for (rapidjson::SizeType t = 0; t < n; ++t) {
    const rapidjson::Value& jt = doc["tables"][t];
    const std::string id = jt["id"].GetString();
    ASSERT_EQ(tables[t].size(), jt["rows"].Size() + 1) << id;  // + header row
    std::string csv = ReadFile((out / ("report-" + id + ".csv")).string());
    std::istringstream csv_lines(csv);
    std::string line;
    std::getline(csv_lines, line);  // header
    for (rapidjson::SizeType r = 0; r < jt["rows"].Size(); ++r) {
      Strings expected = JsonRow(jt, jt["rows"][r]);
      Strings shown;
      for (const std::string& c : tables[t][r + 1]) shown.push_back(Unescape(c));
      EXPECT_EQ(shown, expected) << id << " row " << r;
      // CSV: the same counts and rates (interval split in two columns, no % sign).
      std::getline(csv_lines, line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const rapidjson::Value& jr = jt["rows"][r];
      std::string want = expected[0];
      for (const std::string& c : RowCounts(jr)) want += "," + c;
      if (jr["rate_percent"].IsNull()) {
        want += ",suppressed,suppressed,suppressed";
      } else {
        want += "," + Pct(jr["rate_percent"]) + "," + Pct(jr["ci_low_percent"]) + "," +
                Pct(jr["ci_high_percent"]);
      }
      if (jt.HasMember("medians")) {
        for (const auto& m : jt["medians"].GetArray()) want += "," + MedianText(jr, m);
      }
      want += "," + expected.back();
      EXPECT_EQ(line, want) << id;
    }
  }
}

}  // namespace sdoh::report::testing
