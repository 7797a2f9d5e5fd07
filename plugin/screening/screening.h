// The normalised form of screenings: what the rules read. A Screening is one counted
// QuestionnaireResponse, Observation panel or group of standalone item Observations for one
// instrument, reduced to (question, answer)
// code pairs with the resource each answer came from. No free text is kept.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/setup/catalog.h"
#include "plugin/setup/code_table.h"

namespace sdoh {

// Orders versions of one resource: meta.versionId (numeric), then meta.lastUpdated, then the
// order lines were read in. A higher rank replaces a lower one.
struct VersionRank {
  int64_t version = -1;
  fhir::InstantMicros last_updated = std::numeric_limits<int64_t>::min();
  uint64_t seq = 0;
  auto operator<=>(const VersionRank&) const = default;
};

// kObservationItems: standalone item Observations of one effective instant (issue 14 item 4a);
// its id is the first item's.
enum class ScreeningKind : uint8_t { kQuestionnaireResponse, kObservationPanel, kObservationItems };

// Three-valued logic of rule conditions: unknown when the answers needed are missing.
enum class Tri : uint8_t { kFalse, kTrue, kUnknown };

// The outcome of one `fhirpath:` rule condition, evaluated when the resource was read
// (resources are not kept): index into Ruleset::fhirpath(), value, and what matched.
struct FhirpathOutcome {
  uint32_t index = 0;
  Tri value = Tri::kUnknown;
  std::string detail;
};

// Answer::source indexes Screening::sources; 0 is the screening resource itself.
struct Answer {
  CodeId question = kNoCode;
  CodeId answer = kNoCode;  // kNonLoincAnswer for a value that is not a LOINC coding
  uint32_t source = 0;
};

// "<type>/<id>", in one allocation (a reference per counted screening and member).
inline std::string TypedReference(std::string_view type, std::string_view id) {
  std::string ref;
  ref.reserve(type.size() + 1 + id.size());
  ref += type;
  ref += '/';
  ref += id;
  return ref;
}

struct Screening {
  ScreeningKind kind = ScreeningKind::kQuestionnaireResponse;
  InstrumentIndex instrument = 0;
  fhir::InstantMicros when = 0;
  std::string id;
  // meta.versionId when it is not a canonical number (a number lives in rank.version).
  std::string odd_version_id;
  VersionRank rank;
  std::vector<Answer> answers;
  // Member Observations of a configured question with no value and dataAbsentReason
  // asked-declined: questions the patient declined (outreach's declined items). Not answers:
  // the rules see them as unanswered, as before.
  uint16_t declined_items = 0;
  // The evidence a rule can cite, as Answer::source indexes: source 0 is this screening,
  // source i > 0 the counted member Observation whose id is the i-th of member_sources ('\n'
  // after each; FHIR ids hold no '\n'); source_versions[i] is source i's meta.versionId. One
  // string for all members: a reference is made only when a firing rule cites it
  // (SourceReference), not an allocation per member (issue 17). Filled by the collector for
  // counted screenings only (candidates stay small until then).
  std::string member_sources;
  std::vector<std::string> source_versions;
  std::string member_ids;  // panels: direct hasMember ids, '\n'-separated, resolved at Finish()
  std::vector<FhirpathOutcome> fhirpath;  // outcomes of the instrument's fhirpath conditions

  std::string VersionId() const {
    if (!odd_version_id.empty()) return odd_version_id;
    return rank.version >= 0 ? std::to_string(rank.version) : std::string();
  }
  const char* TypeName() const {
    return kind == ScreeningKind::kQuestionnaireResponse ? "QuestionnaireResponse" : "Observation";
  }
  std::string Reference() const { return TypedReference(TypeName(), id); }
  size_t SourceCount() const { return source_versions.size(); }
  // "<type>/<id>" of source `i` (< SourceCount()).
  std::string SourceReference(size_t i) const {
    if (i == 0) return Reference();
    size_t begin = 0;
    for (size_t k = 1; k < i; ++k) begin = member_sources.find('\n', begin) + 1;
    const size_t end = member_sources.find('\n', begin);
    return TypedReference("Observation",
                          std::string_view(member_sources).substr(begin, end - begin));
  }
  // Appends a counted member's id as the next source (its versionId goes to source_versions).
  void AddMemberSource(std::string_view id) {
    member_sources += id;
    member_sources += '\n';
  }
};

enum class InterpreterStatement : uint8_t { kNone, kNeeded, kNotNeeded };

struct PatientFacts {
  bool present = false;  // a Patient resource was read
  bool active = true;
  bool deceased = false;
  InterpreterStatement interpreter = InterpreterStatement::kNone;
  bool prefers_other_language = false;
  std::string preferred_language;  // BCP-47 tag of the first preferred non-default language
  std::string preferred_language_display;
  // Issue 15 item 3 (service directory), read only when a `directory:` is configured: the
  // first Patient.address.postalCode (an address not of use `old`), and the language of
  // Patient.communication with preferred=true, else of the first communication.
  std::string postal_code;
  std::string communication_language;
  std::string version_id;
  VersionRank rank;
  std::vector<FhirpathOutcome> fhirpath;  // outcomes of patient-rule fhirpath conditions
};

// One patient with the screenings that count (at most one per instrument, newest wins).
struct PatientRecord {
  std::string id;
  PatientFacts facts;
  std::vector<Screening> counted;
};

}  // namespace sdoh
