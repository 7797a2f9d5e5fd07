// Renders a Report as one self-contained HTML page (inline CSS, inline SVG bar charts, no
// scripts, fonts or links), as JSON and as one CSV per table — the same numbers in each, with
// the same suppression. Pure: strings in, strings out.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "plugin/report/report_model.h"

namespace sdoh::report {

// What a count cell shows: the number, "<N" (small cell, N = min_cell) or "suppressed".
std::string CellText(const Cell& cell, int64_t min_cell);
// A proportion as a percentage with one decimal, without the sign: 0.4123 → "41.2".
std::string Percent(double p);
// Days as a whole number, or with one decimal for a half day (a median of two): 12, 12.5.
std::string Days(double d);

std::string RenderHtml(const Report& report);
std::string RenderJson(const Report& report);
// (file name, content) per table: report-<table id>.csv.
std::vector<std::pair<std::string, std::string>> RenderCsv(const Report& report);

}  // namespace sdoh::report
