// FHIR date / dateTime / instant values as comparable instants.
// A value without a time, or with a time but no offset, is read in a configured time zone at
// the start of its precision ("2024" = 2024-01-01T00:00:00 local, "2024-05-01" = midnight local).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fhir/status.h"

namespace fhir {

// Microseconds since 1970-01-01T00:00:00Z.
using InstantMicros = int64_t;

class TimeZone {
 public:
  // "UTC" (also "Z", ""), a fixed offset "+05:30" / "-08:00", or an IANA name such as
  // "America/New_York" (read from the system's zoneinfo; daylight saving applied per date).
  static Result<TimeZone> Parse(std::string_view name);
  static TimeZone Utc() { return TimeZone(); }

  // Seconds to subtract from a local wall-clock time (seconds since epoch as if it were UTC)
  // to get UTC. For IANA zones in a DST gap or overlap, the first valid interpretation.
  int64_t UtcOffsetSecondsAtLocal(int64_t local_seconds) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_ = "UTC";
  bool fixed_ = true;
  int64_t fixed_offset_seconds_ = 0;
};

// Parses YYYY, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.f+]][Z|(+|-)hh:mm].
// Returns nullopt when the text is not a valid FHIR date/dateTime.
std::optional<InstantMicros> ParseFhirDateTime(std::string_view text, const TimeZone& tz);

// Days since 1970-01-01 for a proleptic Gregorian civil date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

// The current time.
InstantMicros NowMicros();

// "YYYY-MM-DDThh:mm:ssZ" for an instant (seconds precision, UTC).
std::string FormatInstantUtc(InstantMicros t);

}  // namespace fhir
