// FHIRPath Date, DateTime and Time values with partial precision (FHIRPath 2.0 §"Date/Time").
//
// A Temporal keeps the components that were written and how many (its precision).
// Comparison follows the spec: components are compared from the most significant down to
// the coarser of the two precisions (seconds and milliseconds count as one precision);
// when all those are equal but the precisions differ, the result is unknown (empty).
// Values with time-zone offsets are compared as instants.
#ifndef SDOH_FHIR_FHIRPATH_TEMPORAL_H_
#define SDOH_FHIR_FHIRPATH_TEMPORAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fhir::fhirpath {

enum class TemporalKind : uint8_t { kDate, kDateTime, kTime };

// Precision levels, in order. A Time starts at kHour.
enum Precision : uint8_t {
  kYear = 1,
  kMonth = 2,
  kDay = 3,
  kHour = 4,
  kMinute = 5,
  kSecond = 6,
  kMillisecond = 7,
};

struct Temporal {
  TemporalKind kind = TemporalKind::kDate;
  uint8_t precision = kYear;
  bool has_tz = false;
  int16_t tz_minutes = 0;  // offset east of UTC
  int32_t year = 0;
  int8_t month = 1, day = 1, hour = 0, minute = 0, second = 0;
  int16_t millisecond = 0;

  // Parses the text form without '@' ("2015-02-04", "2015-02-04T14:34:28.123+10:00",
  // "14:34" for Time). For kDateTime a bare date is accepted (FHIR dateTime "2016-03-28");
  // a trailing "T" alone ("2015T") is accepted as in FHIRPath literals.
  static std::optional<Temporal> Parse(std::string_view text, TemporalKind kind);
  // Text without '@' ("1974-12-25", "2014-01-01T08:00:00.000+14:00", "10:30:00.000").
  std::string ToString() const;

  // FHIRPath precision() digits: 4/6/8 for dates, 10/12/14/17 for times of day in a
  // DateTime, 2/4/6/9 for Time.
  int PrecisionDigits() const;
  // lowBoundary()/highBoundary() to `digits` (same scale as PrecisionDigits);
  // nullopt for an invalid digit count.
  std::optional<Temporal> Boundary(int digits, bool high) const;

  // Adds `amount` of a calendar unit ("year", "month", "week", "day", "hour", "minute",
  // "second", "millisecond"). Fractions are truncated (FHIRPath §"Date/Time Arithmetic").
  std::optional<Temporal> Add(int64_t amount, std::string_view unit) const;

  // Same instant moved to offset `minutes` (used for now()/today() in a local zone).
  Temporal WithOffset(int minutes) const;
};

enum class Order : uint8_t { kLess, kEqual, kGreater, kUnknown, kIncomparable };

// Compares two temporals. kIncomparable for Time vs Date/DateTime. When exactly one side
// has a zone and both carry a time of day, the other side is read in `local_offset`
// minutes if given, otherwise the result is kUnknown.
Order CompareTemporal(const Temporal& a, const Temporal& b,
                      std::optional<int> local_offset = std::nullopt);

// Days since 1970-01-01 for a proleptic Gregorian date, and back.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t z, int32_t* y, int8_t* m, int8_t* d);
int DaysInMonth(int year, int month);

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_TEMPORAL_H_
