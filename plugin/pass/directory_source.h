// Issue 15 item 3: reads the service directory `directory.source` names — an NDJSON folder
// (HealthcareService.ndjson, Organization.ndjson, Location.ndjson) or a FHIR server (the `fhir:`
// section's client settings, paged searches) — through the same stores a pass reads.
#pragma once

#include <memory>

#include "fhir/status.h"
#include "plugin/referrals/directory.h"
#include "plugin/setup/config.h"

namespace sdoh {

// Null (and OK) when no directory is configured. Error: the directory could not be read (I/O,
// server unreachable, a `fhir:` section that does not fit). Bad entries are counted in
// Directory::counts(), not errors.
fhir::Result<std::unique_ptr<Directory>> LoadServiceDirectory(const Config& config);

}  // namespace sdoh
