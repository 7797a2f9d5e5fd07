// Internal to the screening collector (screening_collector.h): the compact per-pass state its
// readers fill and Finish() (newest_wins.cc) turns into PatientRecords. One header so that every
// part of the collector sees one memory layout; nothing outside plugin/screening/ includes it.
//
// Memory: per patient a fixed-size PatientState; per stored Observation a 40-byte
// ObservationRecord; per screening candidate a Candidate whose answers or members live in an
// arena. The rare extras of each live in side tables, indexed by `extra - 1`.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/screening/interned_ids.h"
#include "plugin/screening/screening.h"
#include "plugin/screening/screening_collector.h"

namespace sdoh {

constexpr uint32_t kNoPatient = 0xFFFFFFFFu;

// Same meta.versionId and meta.lastUpdated: only the line order would tell them apart.
inline bool SameVersion(const VersionRank& a, const VersionRank& b) {
  return a.version == b.version && a.last_updated == b.last_updated;
}

// A stored non-panel Observation: what a panel needs from its members, and the effective instant
// of a possible standalone item (issue 14 4a). 40 bytes, because an export holds several per
// patient; the rare extras (a meta rank, more answers, hasMember, an odd versionId) live in a
// side table. Indexed like the observation id table; an id that was only named by a hasMember
// reference has a record that is not `present`.
struct ObservationRecord {
  // kListed: named in some Observation's hasMember (so never a standalone item);
  // kStandalone: taken into a standalone-items candidate; kConflict: same id and version as
  // another line, other content (issue 13 #9); kDeclined: no value, dataAbsentReason
  // asked-declined (the patient declined to answer; issue 15 item 4).
  static constexpr uint8_t kPresent = 1, kValidStatus = 2, kUsed = 4, kListed = 8, kStandalone = 16,
                           kConflict = 32, kDeclined = 64;
  static constexpr fhir::InstantMicros kNoInstant = std::numeric_limits<int64_t>::min();
  uint64_t seq = 0;
  // The effective instant of a possible standalone item (a configured question without
  // hasMember), kNoInstant otherwise: the current version's, like every field here.
  fhir::InstantMicros when = kNoInstant;
  uint32_t subject = kNoPatient;
  CodeId question = kNoCode;
  CodeId answer = kNoCode;  // first answer, kNoCode when unanswered
  uint32_t extra = 0;       // 0, or 1 + index into State::obs_extras
  uint8_t flags = 0;
};

struct ObservationExtra {
  int64_t version = -1;
  fhir::InstantMicros last_updated = std::numeric_limits<int64_t>::min();
  std::vector<CodeId> more_answers;
  std::vector<uint32_t> members;  // observation id indexes
  std::string version_id;         // only when not a canonical number
};

// A screening candidate as read: enough to apply versions, retraction and newest-wins, and to
// build the full Screening of a winner at Finish(). Answers (question, answer pairs) or panel
// member indexes live in an arena; candidates of one patient form a linked list.
struct ScreeningCollector::Candidate {
  fhir::InstantMicros when = 0;
  VersionRank rank;
  std::string_view id;             // in the arena
  const uint32_t* data = nullptr;  // QR: 2 * count codes (question, answer); panel: members
  uint32_t count = 0;
  uint32_t next = kNoPatient;  // next candidate of the same patient (older)
  uint32_t extra = 0;          // 0, or 1 + index into State::candidate_extras
  uint64_t content = 0;        // ContentHash of what the resource contributes (all its instruments)
  InstrumentIndex instrument = 0;
  ScreeningKind kind = ScreeningKind::kQuestionnaireResponse;
  bool conflict = false;  // another line has the same id and version, other content
};

struct CandidateExtra {
  std::string odd_version_id;
  std::vector<FhirpathOutcome> fhirpath;
};

// Per patient: the facts read from its Patient resource, in fixed size, and its candidates.
struct PatientState {
  static constexpr uint8_t kPresent = 1, kInactive = 2, kDeceased = 4, kOtherLanguage = 8,
                           kConflict = 16;
  VersionRank rank;
  uint32_t candidates = kNoPatient;  // head of the candidate list (newest first)
  uint32_t extra = 0;                // 0, or 1 + index into State::patient_extras
  uint8_t flags = 0;
  InterpreterStatement interpreter = InterpreterStatement::kNone;
};

struct PatientExtra {
  std::string version_id;  // only when not a canonical number
  std::string preferred_language;
  std::string preferred_language_display;
  std::vector<FhirpathOutcome> fhirpath;
  std::string postal_code;             // ScreeningOptions::directory_facts only
  std::string communication_language;  // ditto
};
struct ScreeningCollector::State {
  // The blocks of the chunked containers below (huge pages in a large run); declared first, so
  // destroyed last.
  ChunkSource chunks;
  IdTable patient_ids{&chunks};
  ChunkedVector<PatientState> patients{&chunks};  // by patient_ids index
  IdTable observation_ids{&chunks};
  ChunkedVector<ObservationRecord> observations{&chunks};  // by observation_ids index
  std::vector<ObservationExtra> obs_extras;
  ChunkedVector<Candidate> candidates{&chunks};
  std::vector<CandidateExtra> candidate_extras;
  ChunkedVector<PatientExtra> patient_extras;  // chunked: growth never moves the strings
  StringArena strings{&chunks};
  RunArena<uint32_t> runs{&chunks};
  // Highest rank of a non-counting version, by id: retracts lower counted versions.
  StringMap<VersionRank> qr_tombstones;
  StringMap<VersionRank> obs_tombstones;
  // Their ids, asked before the maps (DropNotCounting); built by FinishOrder.
  IdFilter qr_tombstone_ids;
  IdFilter obs_tombstone_ids;

  uint32_t ObservationIndex(std::string_view id) {
    bool inserted = false;
    uint32_t index = observation_ids.Intern(id, &inserted);
    if (inserted) observations.push_back(ObservationRecord{});
    return index;
  }
  uint32_t ListedObservationIndex(std::string_view id) {
    uint32_t index = ObservationIndex(id);
    observations[index].flags |= ObservationRecord::kListed;
    return index;
  }
  VersionRank RankOf(const ObservationRecord& o) const {
    VersionRank r;
    r.seq = o.seq;
    if (o.extra != 0) {
      r.version = obs_extras[o.extra - 1].version;
      r.last_updated = obs_extras[o.extra - 1].last_updated;
    }
    return r;
  }
  std::string VersionIdOf(const ObservationRecord& o) const {
    int64_t version = -1;
    if (o.extra != 0) {
      const ObservationExtra& e = obs_extras[o.extra - 1];
      if (!e.version_id.empty()) return e.version_id;
      version = e.version;
    }
    return version >= 0 ? std::to_string(version) : std::string();
  }
};

// Inline: called once per resource read by every reader.
inline uint32_t ScreeningCollector::PatientIndex(std::string_view patient_id) {
  State& st = *state_;
  // A patient's resources often come together (panel members, rescreens): try the last one.
  if (last_patient_ < st.patients.size() && st.patient_ids.Name(last_patient_) == patient_id) {
    return last_patient_;
  }
  bool inserted = false;
  uint32_t idx = st.patient_ids.Intern(patient_id, &inserted);
  if (inserted) st.patients.push_back(PatientState{});
  last_patient_ = idx;
  return idx;
}

}  // namespace sdoh
