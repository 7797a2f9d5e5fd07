// What the screening stage accepts as its input (issue 13 #6-#8): resource ids FHIR allows,
// subjects on this source (relative, or absolute on the source's base or an alias), and dates
// not in the future. The collector asks; the config decides the bases and the skew.
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/setup/config.h"

namespace sdoh {

struct InputPolicy {
  // Normalised bases (fhir::NormalizeBase) an absolute subject reference may have: the source
  // when it is a server, the call's fhirServer (CDS), config `source_aliases`.
  std::vector<std::string> local_bases;
  // A screening dated after this instant is ignored as future-dated; max: no limit.
  fhir::InstantMicros latest_date = std::numeric_limits<fhir::InstantMicros>::max();

  // Adds a base (normalised); empty and non-URL strings are ignored.
  void AddLocalBase(std::string_view base);
};

// The policy for a pass at `now`: the source's base (when a server), `source_aliases`, and
// latest_date = now + `screening.future_skew_hours`.
InputPolicy InputPolicyFor(const Config& config, fhir::InstantMicros now);

// How a subject reference to a Patient reads.
struct SubjectCheck {
  enum class Kind {
    kNone,     // no Patient reference (missing-subject)
    kLocal,    // relative, or absolute on a local base
    kForeign,  // absolute on another server (foreign-subject)
    kInvalid,  // the id is not a valid FHIR id (invalid-id)
  };
  Kind kind = Kind::kNone;
  std::string_view id;  // kLocal only
};
SubjectCheck CheckSubject(std::string_view reference, const InputPolicy& policy);

}  // namespace sdoh
