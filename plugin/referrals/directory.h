// Issue 15 item 3, "pick a service that can take it": the service directory (`directory:` in the
// config — a FHIR server or an NDJSON folder of HealthcareService, Organization and Location) and
// the choice of a referral's performer from it (pure; README "Service directory").
//
// A service is a candidate for a need when it is active, lists the need's SDOHCC category
// (HealthcareService.category or .type coding), covers the patient's postal code (the postal
// codes of its coverageArea Locations, else of its location Locations: address.postalCode and
// the kCoveragePostalCodeExtension values, exact codes or prefixes ending in '*'), does not say
// `no-capacity`, offers the patient's language when `directory.require_language` is true, and
// is not a performer that rejected (failed, cancelled) this patient's referral for this need
// before. Candidates are ranked: the patient's language offered first, then capacity
// (capacity, unknown, no-capacity-has-waitlist), then the HealthcareService id.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/store.h"
#include "plugin/pass/run_counts.h"

namespace sdoh {

// The SDOHCC capacity-status extension (SDOHCC STU 3, 3.0.0 build,
// https://build.fhir.org/ig/HL7/fhir-sdoh-clinicalcare/ — StructureDefinition
// SDOHCC-ExtensionHealthcareServiceCapacityStatus); `directory.capacity_extension` overrides it.
inline constexpr const char* kCapacityExtensionUrl =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
    "SDOHCC-ExtensionHealthcareServiceCapacityStatus";
inline constexpr const char* kCapacityCodeSystem =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";
// sdoh-bridge's own extension on a Location: one more postal code (or prefix ending in '*') the
// area covers (valueString), so one Location can stand for a list of postal codes.
inline constexpr const char* kCoveragePostalCodeExtension = "urn:sdoh-bridge:coverage-postal-code";

enum class Capacity { kCapacity, kUnknown, kWaitlist, kNoCapacity };
const char* CapacityName(Capacity c);

struct DirectoryService {
  std::string id;            // HealthcareService.id
  std::string organization;  // providedBy reference ("Organization/<id>"), "" when none
  bool active = true;
  std::vector<std::pair<std::string, std::string>> codings;  // category + type (system, code)
  std::vector<std::string> postal_codes;                     // exact, or prefix ending in '*'
  std::vector<std::string> languages;                        // lower-case primary sub-tags
  Capacity capacity = Capacity::kUnknown;
  std::string Reference() const { return "HealthcareService/" + id; }
};

struct DirectoryOptions {
  bool require_language = false;
  std::string capacity_extension = kCapacityExtensionUrl;
};

// One service's verdict for one referral, for `explain`.
struct CandidateVerdict {
  std::string service;  // "HealthcareService/<id>"
  bool eligible = false;
  std::string excluded;              // why not ("" when eligible): the first failed check
  std::vector<std::string> reasons;  // category / area / language / capacity / rejected
  bool language_match = false;
  Capacity capacity = Capacity::kUnknown;
};

// What the directory says for one referral.
struct DirectoryChoice {
  bool consulted = false;    // a directory is configured and a ServiceRequest was planned
  std::string service;       // chosen "HealthcareService/<id>"; "" when none: the route's performer
  std::string organization;  // its providedBy ("" when none)
  std::string why;           // why this one won, or why none did
  std::vector<CandidateVerdict> candidates;  // services of the need's category, ranked first
  size_t other_category = 0;                 // services not listing the category
};

// The patient and need one referral is for.
struct DirectoryQuery {
  std::string category_system, category_code;  // the need's SDOHCC category
  std::string postal_code;                     // Patient.address.postalCode ("" when none)
  std::string language;                        // BCP-47 tag ("" when none)
  std::set<std::string> rejected;              // performer references that rejected before
};

// (patient id, need) → performer references ("HealthcareService/x", "Organization/y") whose
// referral Task for that patient and need went rejected, failed or cancelled (not by us).
using RejectedPerformers = std::map<std::pair<std::string, std::string>, std::set<std::string>>;

class Directory : public fhir::ResourceVisitor {
 public:
  explicit Directory(DirectoryOptions options = {}) : options_(std::move(options)) {}

  // The types to read, in order (Locations and Organizations before the services need them
  // only in Finish, so any order works).
  static const std::vector<std::string>& InputTypes();
  void OnResource(std::string_view expected_type, const rapidjson::Value& resource,
                  const fhir::SourceLocation& where) override;
  void OnUnreadable(std::string_view expected_type, const fhir::SourceLocation& where,
                    std::string_view reason, const std::string& detail) override;
  // Resolves the services' Location references into postal codes; call once after reading.
  void Finish();

  // Adds one service directly (tests).
  void AddService(DirectoryService s);

  DirectoryChoice Choose(const DirectoryQuery& q) const;

  const std::vector<DirectoryService>& services() const { return services_; }
  // Bad directory entries (where, what), counted in the run summary.
  const RunCounts& counts() const { return counts_; }
  std::string source;  // where it was read (Describe())

 private:
  struct Pending {
    std::vector<std::string> coverage, location;  // Location ids
  };
  DirectoryOptions options_;
  std::vector<DirectoryService> services_;  // sorted by id after Finish
  std::vector<Pending> pending_;            // parallel to services_ until Finish
  std::map<std::string, size_t> index_;     // id → position in services_ while reading
  // (system, code) → positions in services_ (ascending, each once): Choose looks at the need's
  // category only. Rebuilt by Finish / AddService.
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_category_;
  void Index();
  std::map<std::string, std::vector<std::string>> location_codes_;  // Location id → codes
  std::set<std::string> organizations_, inactive_organizations_;
  RunCounts counts_;
};

// A postal code of a patient (ZIP or ZIP+4, any case and spacing) against one listed code
// ("02139" exact, ZIP+4 "02139-1234" matches "02139"; "021*" a prefix).
bool PostalCodeCovered(const std::string& patient, const std::string& listed);

}  // namespace sdoh
