// The normalised form of screenings: what the rules read. A Screening is one counted
// QuestionnaireResponse or Observation panel for one instrument, reduced to (question, answer)
// code pairs with the resource each answer came from. No free text is kept.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/catalog.h"
#include "plugin/code_table.h"

namespace sdoh {

// Orders versions of one resource: meta.versionId (numeric), then meta.lastUpdated, then the
// order lines were read in. A higher rank replaces a lower one.
struct VersionRank {
  int64_t version = -1;
  fhir::InstantMicros last_updated = std::numeric_limits<int64_t>::min();
  uint64_t seq = 0;
  auto operator<=>(const VersionRank&) const = default;
};

enum class ScreeningKind : uint8_t { kQuestionnaireResponse, kObservationPanel };

// Answer::source indexes Screening::sources; 0 is the screening resource itself.
struct Answer {
  CodeId question = kNoCode;
  CodeId answer = kNoCode;  // kNonLoincAnswer for a value that is not a LOINC coding
  uint32_t source = 0;
};

struct Screening {
  ScreeningKind kind = ScreeningKind::kQuestionnaireResponse;
  InstrumentIndex instrument = 0;
  fhir::InstantMicros when = 0;
  std::string id;
  std::string version_id;  // meta.versionId as written (may be empty)
  VersionRank rank;
  std::vector<Answer> answers;
  // References ("Observation/<id>") and their meta.versionId, [0] = this screening.
  std::vector<std::string> sources;
  std::vector<std::string> source_versions;
  std::vector<std::string> member_ids;  // panels: direct hasMember ids, resolved at Finish()

  const char* TypeName() const {
    return kind == ScreeningKind::kQuestionnaireResponse ? "QuestionnaireResponse" : "Observation";
  }
  std::string Reference() const { return std::string(TypeName()) + "/" + id; }
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
  std::string version_id;
  VersionRank rank;
};

// One patient with the screenings that count (at most one per instrument, newest wins).
struct PatientRecord {
  std::string id;
  PatientFacts facts;
  std::vector<Screening> counted;
};

}  // namespace sdoh
