// FHIRPath System.Quantity and the small UCUM subset the engine converts between.
//
// Units are either UCUM codes ('mg', 'cm2', 'g/m', '[lb_av]') or FHIRPath calendar words
// (year, month, week, day, hour, minute, second, millisecond, singular or plural).
// Calendar day/week/hour/minute/second/millisecond equal their UCUM counterparts
// (d, wk, h, min, s, ms); calendar year/month are not comparable with UCUM 'a'/'mo'
// (FHIRPath 2.0 §"Quantity" / "Time-valued quantities").
#ifndef SDOH_FHIR_FHIRPATH_QUANTITY_H_
#define SDOH_FHIR_FHIRPATH_QUANTITY_H_

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "fhir/fhirpath/decimal.h"

namespace fhir::fhirpath {

struct Quantity {
  Decimal value;
  std::string unit;       // UCUM code, or the calendar word as written
  bool calendar = false;  // unit is a calendar word
  // FHIRPath text form: "1.5 'mg'" or "4 days".
  std::string ToString() const;
};

// Singular calendar word for a calendar word or plural ("days" -> "day"), else "".
std::string_view CalendarWordSingular(std::string_view word);

// A unit reduced to base dimensions: value_in_base = value * factor.
struct UnitInfo {
  Decimal factor = Decimal::FromInt(1);
  // m, g, s, mol, K, A, cd, calendar-month
  std::array<int, 8> dims{};
};

// Parses a UCUM unit expression from the supported subset; nullopt if unknown.
std::optional<UnitInfo> ParseUcum(std::string_view unit);
// Unit info of a quantity (calendar words included).
std::optional<UnitInfo> UnitOf(const Quantity& q);

// Converts b into a's unit. nullopt if the units are not commensurable.
std::optional<Decimal> ConvertTo(const Quantity& from, const Quantity& to_unit_of);

// For date arithmetic: the calendar unit a quantity stands for ("day", "month", ...),
// or "" if it cannot be added to a date (e.g. 'a', 'mo', 'cm').
std::string_view DateArithmeticUnit(const Quantity& q);

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_QUANTITY_H_
