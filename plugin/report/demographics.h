// The demographics a report stratifies by, read from Patient resources. Race, ethnicity,
// birth date and address are read here and in the report model only: they never reach logs,
// and the report shows strata counts, never a patient. REQUIRES: callers keep it that way.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "fhir/store.h"

namespace sdoh::report {

struct Demographics {
  std::string language = "unknown";   // Patient.communication preferred language tag
  std::string race = "Unknown";       // OMB category, "Two or more races" or "Unknown"
  std::string ethnicity = "Unknown";  // OMB ethnicity category or "Unknown"
  std::string gender = "unknown";     // administrative gender
  std::string birth_date;             // YYYY[-MM[-DD]], "" when absent
  std::string zip3 = "unknown";       // first 3 digits of the first address postalCode
  // For choosing among versions of one Patient: meta.versionId (numeric), then read order.
  long long version = -1;
  unsigned long long seq = 0;
};

// Reads the report's demographics from one Patient resource.
Demographics ReadDemographics(const rapidjson::Value& patient);

// A ResourceVisitor that forwards every call to `inner` unchanged and, for Patient resources,
// keeps the report's demographics by patient id (the newest version wins).
class DemographicsTap : public fhir::ResourceVisitor {
 public:
  explicit DemographicsTap(fhir::ResourceVisitor& inner) : inner_(inner) {}

  void OnResource(std::string_view expected_type, const rapidjson::Value& resource,
                  const fhir::SourceLocation& where) override;
  void OnUnreadable(std::string_view expected_type, const fhir::SourceLocation& where,
                    std::string_view reason, const std::string& detail) override;

  const std::map<std::string, Demographics>& by_patient() const { return by_patient_; }

 private:
  fhir::ResourceVisitor& inner_;
  std::map<std::string, Demographics> by_patient_;
  unsigned long long seq_ = 0;
};

}  // namespace sdoh::report
