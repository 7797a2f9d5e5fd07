#include "plugin/report/report_writers.h"

#include <cstdio>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace sdoh::report {

namespace {

constexpr const char* kTooFew = "too few to compare";

std::string Html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Csv(const std::string& s) {
  bool quote = s.find_first_of(",\"\n\r") != std::string::npos ||
               (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'));
  if (!quote) return s;
  std::string out = "\"";
  // A leading formula character is neutralised with a quote (CSV injection in spreadsheets).
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) out += '\'';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string Note(const ReportTable& t, size_t row, const Report& r) {
  return TooFewToCompare(t, row, r.options.min_compare) ? kTooFew : "";
}

// A row's median as shown: the number, "suppressed" with the count it is over, "—" when there
// is none (no referrals, none accepted, …).
std::string MedianText(const ReportTable& t, size_t m, size_t row) {
  if (auto v = MedianOf(t, m, row)) return Days(*v);
  return t.counts.cells[row][t.medians[m].count_column].suppressed() ? "suppressed" : "—";
}

std::string Svg(const ReportTable& t, const Report& r, size_t index) {
  const int label_w = 220, bar_w = 360, row_h = 26, top = 8, scale_h = 20;
  const int rows_bottom = top + row_h * static_cast<int>(t.rows.size());
  const int height = rows_bottom + top + scale_h;
  const int width = label_w + bar_w + 150;
  std::string id = "chart-" + std::to_string(index);
  std::string s = "<svg role=\"img\" aria-labelledby=\"" + id + "\" width=\"" +
                  std::to_string(width) + "\" height=\"" + std::to_string(height) +
                  "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
                  "\"><title id=\"" + id + "\">" + Html(t.title) + ": " + Html(t.rate_label) +
                  " per row; the numbers are in the table below</title>";
  // The scale: gridlines at 50% and 100%, labelled 0%, 50%, 100% under the bars.
  for (int tick = 0; tick <= 2; ++tick) {
    const std::string x = std::to_string(label_w + bar_w * tick / 2);
    if (tick > 0) {
      s += "<line x1=\"" + x + "\" y1=\"0\" x2=\"" + x + "\" y2=\"" +
           std::to_string(rows_bottom + 4) + "\" class=\"grid\"/>";
    }
    s += "<text x=\"" + x + "\" y=\"" + std::to_string(rows_bottom + scale_h) +
         "\" text-anchor=\"middle\" class=\"muted\">" + std::to_string(tick * 50) + "%</text>";
  }
  s += "<line x1=\"" + std::to_string(label_w) + "\" y1=\"0\" x2=\"" + std::to_string(label_w) +
       "\" y2=\"" + std::to_string(rows_bottom + 4) + "\" class=\"axis\"/>";
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const int y = top + row_h * static_cast<int>(i);
    s += "<text x=\"" + std::to_string(label_w - 6) + "\" y=\"" + std::to_string(y + 17) +
         "\" text-anchor=\"end\">" + Html(t.rows[i]) + "</text>";
    auto rate = RateOf(t, i);
    if (!rate) {
      s += "<text x=\"" + std::to_string(label_w + 6) + "\" y=\"" + std::to_string(y + 17) +
           "\" class=\"muted\">suppressed</text>";
      continue;
    }
    const int w = static_cast<int>(rate->rate * bar_w + 0.5);
    const bool few = TooFewToCompare(t, i, r.options.min_compare);
    s += "<rect x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(y + 4) +
         "\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(row_h - 8) +
         "\" class=\"" + (few ? "bar few" : "bar") + "\"/>";
    const int lo = label_w + static_cast<int>(rate->ci.low * bar_w + 0.5);
    const int hi = label_w + static_cast<int>(rate->ci.high * bar_w + 0.5);
    const std::string cy = std::to_string(y + row_h / 2);
    s += "<line x1=\"" + std::to_string(lo) + "\" y1=\"" + cy + "\" x2=\"" + std::to_string(hi) +
         "\" y2=\"" + cy + "\" class=\"ci\"/>";
    s += "<text x=\"" + std::to_string(label_w + bar_w + 8) + "\" y=\"" + std::to_string(y + 17) +
         "\">" + Percent(rate->rate) + "%" + (few ? " *" : "") + "</text>";
  }
  return s + "</svg>";
}

std::string HtmlTable(const ReportTable& t, const Report& r) {
  std::string s = "<table><caption>" + Html(t.caption) + "</caption><thead><tr><th scope=\"col\">" +
                  Html(t.row_header) + "</th>";
  for (const std::string& c : t.columns) s += "<th scope=\"col\">" + Html(c) + "</th>";
  s += "<th scope=\"col\">" + Html(t.rate_label) +
       "</th><th scope=\"col\">95% CI (Wilson)</th>"
       "";
  for (const MedianColumn& m : t.medians) s += "<th scope=\"col\">" + Html(m.label) + "</th>";
  s += "<th scope=\"col\">Note</th></tr></thead><tbody>";
  for (size_t i = 0; i < t.rows.size(); ++i) {
    s += "<tr><th scope=\"row\">" + Html(t.rows[i]) + "</th>";
    for (const Cell& c : t.counts.cells[i]) {
      s += "<td>" + Html(CellText(c, r.options.min_cell)) + "</td>";
    }
    auto rate = RateOf(t, i);
    if (rate) {
      s += "<td>" + Percent(rate->rate) + "%</td><td>" + Percent(rate->ci.low) + "–" +
           Percent(rate->ci.high) + "%</td>";
    } else {
      s += "<td>suppressed</td><td>suppressed</td>";
    }
    for (size_t m = 0; m < t.medians.size(); ++m) s += "<td>" + MedianText(t, m, i) + "</td>";
    s += "<td>" + Note(t, i, r) + "</td></tr>";
  }
  return s + "</tbody></table>";
}

constexpr const char* kCss =
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#1b1b1b}table{border-collapse:collapse;margin:1rem 0 2rem;font-size:.875rem}"
    "caption{text-align:left;font-weight:600;padding:.3rem 0;font-size:1rem}th,td{border:1px "
    "solid #999;padding:.2rem .4rem;text-align:right}"
    "th[scope=row],thead th:first-child{text-align:left}svg text{font-size:13px;"
    "fill:#1b1b1b}.bar{fill:#1f5f99}.bar.few{fill:#8aa9c6}.ci{stroke:#000;stroke-width:2}"
    ".axis{stroke:#666}.grid{stroke:#bbb;stroke-dasharray:3 3}.muted{fill:#555}";

}  // namespace

std::string CellText(const Cell& cell, int64_t min_cell) {
  switch (cell.suppression) {
    case Suppression::kSmallCell:
      return "<" + std::to_string(min_cell);
    case Suppression::kComplementary:
      return "suppressed";
    case Suppression::kNone:
      break;
  }
  return std::to_string(cell.value);
}

std::string Days(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf,
                d == static_cast<double>(static_cast<int64_t>(d)) ? "%.0f" : "%.1f", d);
  return buf;
}

std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", p * 100.0);
  return buf;
}

std::string RenderHtml(const Report& r) {
  const std::string mc = std::to_string(r.options.min_cell);
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Social-needs "
      "screening report " +
      Html(r.options.from) + " to " + Html(r.options.to) +
      "</title><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>" +
      kCss + "</style></head><body><main><h1>Social-needs screening report</h1>";
  s += "<p>Reporting period: screenings dated " + Html(r.options.from) + " to " +
       Html(r.options.to) + " (inclusive).</p>";
  s += "<p><strong>Denominator:</strong> " + Html(r.denominator) + ".</p>";
  if (r.options.referrals) {
    s += "<p><strong>Referrals:</strong> the ServiceRequests (and their Tasks) sdoh-bridge wrote "
         "to the FHIR server, authored in the period, with their status on the server when this "
         "report was made; days open are counted up to " +
         Html(r.options.referrals_as_of) + " at most.</p>";
  }
  if (r.options.min_cell > 1) {
    s += "<p>Counts from 1 to " + std::to_string(r.options.min_cell - 1) + " are shown as &lt;" +
         mc +
         "; other counts marked <em>suppressed</em> are hidden so that a small count cannot be "
         "worked out from totals or from another table. Rates and intervals of suppressed counts "
         "are suppressed. ";
  } else {
    s += "<p>No count is suppressed in this report (minimum cell size 1): do not share it "
         "beyond those allowed to see small counts. ";
  }
  s += "Intervals are 95% Wilson score intervals. Rows with fewer than " +
       std::to_string(r.options.min_compare) +
       " patients in the denominator are marked “too few to compare” (lighter bars, *).</p>";
  for (size_t i = 0; i < r.tables.size(); ++i) {
    const ReportTable& t = r.tables[i];
    s += "<section><h2>" + Html(t.title) + "</h2>" + Svg(t, r, i) + HtmlTable(t, r) + "</section>";
  }
  return s + "</main></body></html>\n";
}

std::string RenderJson(const Report& r) {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  auto raw = [&w](const std::string& number) {
    w.RawValue(number.c_str(), number.size(), rapidjson::kNumberType);
  };
  w.StartObject();
  w.Key("period");
  w.StartObject();
  w.Key("from");
  w.String(r.options.from.c_str());
  w.Key("to");
  w.String(r.options.to.c_str());
  w.Key("basis");
  w.String("screening date");
  w.EndObject();
  w.Key("denominator");
  w.String(r.denominator.c_str());
  w.Key("min_cell");
  w.Int64(r.options.min_cell);
  w.Key("min_compare");
  w.Int64(r.options.min_compare);
  if (r.options.referrals) {
    w.Key("referrals_as_of");
    w.String(r.options.referrals_as_of.c_str());
  }
  if (!r.options.outreach_as_of.empty()) {
    w.Key("outreach_as_of");
    w.String(r.options.outreach_as_of.c_str());
  }
  w.Key("tables");
  w.StartArray();
  for (const ReportTable& t : r.tables) {
    w.StartObject();
    w.Key("id");
    w.String(t.id.c_str());
    w.Key("title");
    w.String(t.title.c_str());
    w.Key("caption");
    w.String(t.caption.c_str());
    w.Key("row_header");
    w.String(t.row_header.c_str());
    w.Key("columns");
    w.StartArray();
    for (const std::string& c : t.columns) w.String(c.c_str());
    w.EndArray();
    w.Key("rate");
    w.String(t.rate_label.c_str());
    if (!t.medians.empty()) {
      // Which row keys hold medians, their column headers and the count each is over.
      w.Key("medians");
      w.StartArray();
      for (const MedianColumn& m : t.medians) {
        w.StartObject();
        w.Key("key");
        w.String(m.key.c_str());
        w.Key("label");
        w.String(m.label.c_str());
        w.Key("count_column");
        w.Uint64(m.count_column);
        w.EndObject();
      }
      w.EndArray();
    }
    w.Key("rows");
    w.StartArray();
    for (size_t i = 0; i < t.rows.size(); ++i) {
      w.StartObject();
      w.Key("label");
      w.String(t.rows[i].c_str());
      w.Key("counts");
      w.StartArray();
      for (const Cell& c : t.counts.cells[i]) {
        if (c.suppressed()) {
          w.String(CellText(c, r.options.min_cell).c_str());
        } else {
          w.Int64(c.value);
        }
      }
      w.EndArray();
      auto rate = RateOf(t, i);
      w.Key("rate_percent");
      rate ? raw(Percent(rate->rate)) : (void)w.Null();
      w.Key("ci_low_percent");
      rate ? raw(Percent(rate->ci.low)) : (void)w.Null();
      w.Key("ci_high_percent");
      rate ? raw(Percent(rate->ci.high)) : (void)w.Null();
      for (size_t m = 0; m < t.medians.size(); ++m) {
        w.Key(t.medians[m].key.c_str());
        auto v = MedianOf(t, m, i);
        v ? raw(Days(*v)) : (void)w.Null();
      }
      w.Key("note");
      w.String(Note(t, i, r).c_str());
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString()) + "\n";
}

std::vector<std::pair<std::string, std::string>> RenderCsv(const Report& r) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const ReportTable& t : r.tables) {
    std::string s = Csv(t.row_header);
    for (const std::string& c : t.columns) s += "," + Csv(c);
    s += "," + Csv(t.rate_label + " %") + ",CI low %,CI high %";
    for (const MedianColumn& m : t.medians) s += "," + Csv(m.label);
    s += ",Note\r\n";
    for (size_t i = 0; i < t.rows.size(); ++i) {
      s += Csv(t.rows[i]);
      for (const Cell& c : t.counts.cells[i]) s += "," + Csv(CellText(c, r.options.min_cell));
      auto rate = RateOf(t, i);
      if (rate) {
        s += "," + Percent(rate->rate) + "," + Percent(rate->ci.low) + "," + Percent(rate->ci.high);
      } else {
        s += ",suppressed,suppressed,suppressed";
      }
      for (size_t m = 0; m < t.medians.size(); ++m) s += "," + MedianText(t, m, i);
      s += "," + Csv(Note(t, i, r)) + "\r\n";
    }
    files.emplace_back("report-" + t.id + ".csv", std::move(s));
  }
  return files;
}

}  // namespace sdoh::report
