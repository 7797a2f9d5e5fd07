// Numeric answers (the HITS total 95614-4: QR valueInteger / valueDecimal, Observation
// valueQuantity.value / valueInteger) kept without a new field in Answer: a whole number in
// [0, kMaxIntegerAnswer] is stored as the CodeId kIntegerAnswerBase + value, far above any interned
// code; any other value that is not a LOINC coding stays kNonLoincAnswer. Issue 14 item 3.
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include <rapidjson/document.h>

#include "fhir/json.h"
#include "plugin/setup/code_table.h"

namespace sdoh {

inline constexpr CodeId kIntegerAnswerBase = 0xFFFF0000u;
inline constexpr uint32_t kMaxIntegerAnswer = 0xFFFEu;  // base + max < kNonLoincAnswer

// The whole number an answer code stands for, or nullopt for a coded (or other) answer.
inline std::optional<int> IntegerAnswer(CodeId a) {
  if (a < kIntegerAnswerBase || a == kNonLoincAnswer) return std::nullopt;
  return static_cast<int>(a - kIntegerAnswerBase);
}

// The answer code of a value[x] holder (a QR answer or an Observation) that carries no LOINC
// coding: an integer answer for a whole number in range, else kNonLoincAnswer.
inline CodeId NumericAnswerCode(const rapidjson::Value& holder) {
  const rapidjson::Value* v = fhir::json::Member(holder, "valueInteger");
  if (v == nullptr) v = fhir::json::Member(holder, "valueDecimal");
  if (v == nullptr) {
    if (const rapidjson::Value* q = fhir::json::Member(holder, "valueQuantity")) {
      v = fhir::json::Member(*q, "value");
    }
  }
  if (v == nullptr || !v->IsNumber()) return kNonLoincAnswer;
  const double d = v->GetDouble();
  if (!(d >= 0) || d > kMaxIntegerAnswer || std::floor(d) != d) return kNonLoincAnswer;
  return kIntegerAnswerBase + static_cast<CodeId>(d);
}

// A readable answer for explain and the why: the LOINC code, the number, or a placeholder.
inline std::string AnswerName(const CodeTable& codes, CodeId a) {
  if (auto n = IntegerAnswer(a)) return std::to_string(*n);
  return std::string(codes.Name(a));
}

}  // namespace sdoh
