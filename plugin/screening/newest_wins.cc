// Finish() of the screening collector (screening_collector.h): the screening semantics applied
// per patient — version retraction, conflicting lines, newest wins per instrument — and the
// winners built as full Screenings with their panel members resolved.
#include "plugin/screening/screening_collector.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "plugin/screening/collector_state.h"

namespace sdoh {

namespace {

const char* TypeName(ScreeningKind kind) {
  return kind == ScreeningKind::kQuestionnaireResponse ? "QuestionnaireResponse" : "Observation";
}

std::string ReferenceOf(ScreeningKind kind, std::string_view id) {
  return TypedReference(TypeName(kind), id);
}

}  // namespace

// The scratch of Finish(), reused from patient to patient.
struct ScreeningCollector::FinishScratch {
  std::vector<uint32_t> cand_index;  // the patient's candidates in the order they were read
  std::vector<char> drop;            // by cand_index position: does not count
  std::vector<int> best;             // by instrument: the winner's cand_index position, or -1
  std::vector<std::pair<uint32_t, size_t>> queue;  // (observation index, depth)
  std::vector<uint32_t> seen;
  RunCounts* counts = nullptr;  // where this patient's ignores and counted screenings go
};

void ScreeningCollector::Finish(const std::function<void(PatientRecord&)>& fn) {
  const std::vector<uint32_t> order = FinishOrder();
  FinishScratch scratch;
  scratch.counts = &counts_;
  for (uint32_t pidx : order) {
    PatientRecord rec;
    BuildRecord(pidx, scratch, &rec);
    fn(rec);
  }
  FinishRest({});
}

ScreeningCollector::Finisher::Finisher(ScreeningCollector& collector)
    : collector_(collector), scratch_(std::make_unique<FinishScratch>()) {
  scratch_->counts = &counts_;
}

ScreeningCollector::Finisher::~Finisher() = default;

void ScreeningCollector::Finisher::Build(uint32_t patient, PatientRecord* rec) {
  collector_.BuildRecord(patient, *scratch_, rec);
}

std::vector<uint32_t> ScreeningCollector::FinishOrder() {
  State& st = *state_;
  AddStandaloneCandidates();
  for (auto [tombstones, filter] : {std::pair{&st.qr_tombstones, &st.qr_tombstone_ids},
                                    std::pair{&st.obs_tombstones, &st.obs_tombstone_ids}}) {
    filter->Reset(tombstones->size());
    for (const auto& [id, rank] : *tombstones) filter->Add(id);
  }
  // By id. Each id's first 8 bytes, big-endian and zero-padded, decide nearly every comparison
  // without a visit to the id itself (a miss to memory each at a million patients); equal
  // prefixes compare the whole ids. The same order as comparing the ids: bytes compare unsigned,
  // and the padding sorts an id before the longer ids it begins.
  struct Keyed {
    uint64_t prefix;
    uint32_t index;
  };
  const uint32_t n = static_cast<uint32_t>(st.patients.size());
  std::vector<Keyed> keyed(n);
  for (uint32_t i = 0; i < n; ++i) {
    const std::string_view id = st.patient_ids.Name(i);
    uint64_t prefix = 0;
    for (size_t k = 0; k < 8; ++k) {
      prefix = (prefix << 8) | (k < id.size() ? static_cast<unsigned char>(id[k]) : 0u);
    }
    keyed[i] = {prefix, i};
  }
  std::sort(keyed.begin(), keyed.end(), [&](const Keyed& a, const Keyed& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return st.patient_ids.Name(a.index) < st.patient_ids.Name(b.index);
  });
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = keyed[i].index;
  return order;
}

// One patient's record. Touches only this patient's state (its facts, its candidates and their
// extras, the kUsed bit of its own Observations), so different patients may be built at once.
void ScreeningCollector::BuildRecord(uint32_t pidx, FinishScratch& scratch, PatientRecord* rec) {
  State& st = *state_;
  const auto& instruments = catalog_.instruments();
  scratch.best.resize(instruments.size());
  ReadFacts(pidx, rec);
  // The patient's candidates in the order they were read.
  scratch.cand_index.clear();
  for (uint32_t c = st.patients[pidx].candidates; c != kNoPatient; c = st.candidates[c].next) {
    scratch.cand_index.push_back(c);
  }
  std::reverse(scratch.cand_index.begin(), scratch.cand_index.end());
  DropNotCounting(scratch);
  PickNewest(scratch);
  // 3. The winners as full Screenings; panel members resolved.
  for (size_t k = 0; k < instruments.size(); ++k) {
    if (scratch.best[k] < 0) continue;
    rec->counted.push_back(
        CountedScreening(pidx, st.candidates[scratch.cand_index[scratch.best[k]]], scratch));
  }
}

void ScreeningCollector::FinishRest(const std::vector<Finisher*>& finishers) {
  State& st = *state_;
  for (Finisher* f : finishers) counts_.Merge(f->counts_);
  for (size_t i = 0; i < st.observations.size(); ++i) {
    const ObservationRecord& o = st.observations[i];
    if ((o.flags & ObservationRecord::kPresent) != 0 &&
        (o.flags & (ObservationRecord::kUsed | ObservationRecord::kStandalone |
                    ObservationRecord::kConflict)) == 0) {
      counts_.Ignore("Observation", "not reached by a counted panel");
    }
  }
}

// The patient's id and the facts of its Patient resource (moved out of the state: once per
// patient); a patient whose lines conflict (issue 13 #9) reads as absent.
void ScreeningCollector::ReadFacts(uint32_t pidx, PatientRecord* rec) {
  State& st = *state_;
  PatientState& ps = st.patients[pidx];
  rec->id = std::string(st.patient_ids.Name(pidx));
  PatientFacts& f = rec->facts;
  f.present = (ps.flags & PatientState::kPresent) != 0;
  f.active = (ps.flags & PatientState::kInactive) == 0;
  f.deceased = (ps.flags & PatientState::kDeceased) != 0;
  f.prefers_other_language = (ps.flags & PatientState::kOtherLanguage) != 0;
  f.interpreter = ps.interpreter;
  f.rank = ps.rank;
  if (ps.extra != 0) {
    PatientExtra& e = st.patient_extras[ps.extra - 1];
    f.version_id = std::move(e.version_id);
    f.preferred_language = std::move(e.preferred_language);
    f.preferred_language_display = std::move(e.preferred_language_display);
    f.fhirpath = std::move(e.fhirpath);
    f.postal_code = std::move(e.postal_code);
    f.communication_language = std::move(e.communication_language);
  }
  if (f.version_id.empty() && f.rank.version >= 0) f.version_id = std::to_string(f.rank.version);
  if ((ps.flags & PatientState::kConflict) != 0) f = PatientFacts{};  // issue 13 #9
}

// 1. Versions: a newer non-counting version retracts; of one id keep the highest rank. Fills
// scratch.drop for scratch.cand_index.
void ScreeningCollector::DropNotCounting(FinishScratch& scratch) {
  State& st = *state_;
  const auto& instruments = catalog_.instruments();
  const bool tracing = !options_.only_patient.empty();
  const size_t n = scratch.cand_index.size();
  auto cand = [&](size_t i) -> Candidate& { return st.candidates[scratch.cand_index[i]]; };
  std::vector<char>& drop = scratch.drop;
  drop.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const Candidate& c = cand(i);
    if (c.kind == ScreeningKind::kObservationItems) continue;  // built from current versions
    const bool qr = c.kind == ScreeningKind::kQuestionnaireResponse;
    if (!(qr ? st.qr_tombstone_ids : st.obs_tombstone_ids).MayHold(c.id)) continue;
    const auto& tombs = qr ? st.qr_tombstones : st.obs_tombstones;
    auto t = tombs.find(c.id);
    // A non-counting line of the same version retracts too, whatever the line order (#9).
    if (t != tombs.end() && SameVersion(c.rank, t->second)) {
      drop[i] = 1;
      scratch.counts->Ignore(TypeName(c.kind),
                             "conflicting-versions (a line of the same version does not count)");
      if (tracing) {
        Trace(ReferenceOf(c.kind, c.id), instruments[c.instrument].id, "ignored",
              "conflicting-versions: a line of the same version does not count");
      }
    } else if (t != tombs.end() && c.rank < t->second) {
      drop[i] = 1;
      scratch.counts->Ignore(TypeName(c.kind), "retracted by a newer version");
      if (tracing) {
        Trace(ReferenceOf(c.kind, c.id), instruments[c.instrument].id, "ignored",
              "retracted by a newer version (entered-in-error or no longer counting)");
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n && !drop[i]; ++j) {
      if (i == j || drop[j] || cand(i).conflict) continue;
      const Candidate &a = cand(i), &b = cand(j);
      if (a.instrument == b.instrument && a.kind == b.kind && a.rank < b.rank && a.id == b.id) {
        drop[i] = 1;
        scratch.counts->Ignore(TypeName(a.kind), "older version of the same screening");
      }
    }
  }
  // Lines in conflict (same id and version, other content: issue 13 #9) count for nothing,
  // but still retract the older versions above, like any newer version.
  for (size_t i = 0; i < n; ++i) {
    if (!drop[i] && cand(i).conflict) {
      drop[i] = 1;
      if (tracing) {
        Trace(ReferenceOf(cand(i).kind, cand(i).id), instruments[cand(i).instrument].id, "skipped",
              "conflicting-versions: same id and version as another line, other content");
      }
    }
  }
}

// 2. Newest wins per instrument: latest instant; at an equal instant a QR or panel beats
// standalone items (often extracted from it), then the greater id byte-wise wins.
void ScreeningCollector::PickNewest(FinishScratch& scratch) {
  State& st = *state_;
  const auto& instruments = catalog_.instruments();
  const bool tracing = !options_.only_patient.empty();
  const size_t n = scratch.cand_index.size();
  auto cand = [&](size_t i) -> Candidate& { return st.candidates[scratch.cand_index[i]]; };
  const std::vector<char>& drop = scratch.drop;
  std::vector<int>& best = scratch.best;
  auto beats = [](const Candidate& x, const Candidate& y) {
    if (x.when != y.when) return y.when < x.when;
    const bool xi = x.kind == ScreeningKind::kObservationItems;
    const bool yi = y.kind == ScreeningKind::kObservationItems;
    if (xi != yi) return yi;
    return y.id < x.id;
  };
  std::fill(best.begin(), best.end(), -1);
  for (size_t i = 0; i < n; ++i) {
    if (drop[i]) continue;
    const Candidate& c = cand(i);
    int& b = best[c.instrument];
    if (b < 0 || beats(c, cand(b))) b = static_cast<int>(i);
  }
  for (size_t i = 0; i < n; ++i) {
    const Candidate& c = cand(i);
    if (drop[i] || best[c.instrument] == static_cast<int>(i)) continue;
    scratch.counts->Ignore(TypeName(c.kind), "superseded by a newer screening");
    if (tracing) {
      trace_.push_back({ReferenceOf(c.kind, c.id), instruments[c.instrument].id, "superseded",
                        "a newer screening of this instrument counts", c.when, true});
    }
  }
}

// The winner `c` of its instrument as a full Screening, counted.
Screening ScreeningCollector::CountedScreening(uint32_t pidx, Candidate& c,
                                               FinishScratch& scratch) {
  State& st = *state_;
  const auto& instruments = catalog_.instruments();
  const bool tracing = !options_.only_patient.empty();
  Screening s;
  s.kind = c.kind;
  s.instrument = c.instrument;
  s.when = c.when;
  s.id = std::string(c.id);
  s.rank = c.rank;
  if (c.extra != 0) {
    CandidateExtra& e = st.candidate_extras[c.extra - 1];
    s.odd_version_id = std::move(e.odd_version_id);
    s.fhirpath = std::move(e.fhirpath);
  }
  // Room for the members' sources and answers at once (a panel lists c.count of them).
  const size_t members = s.kind == ScreeningKind::kQuestionnaireResponse ? 0 : c.count;
  s.member_sources.reserve(members * 16);  // ids are short: one allocation for most panels
  s.source_versions.reserve(1 + members);
  s.answers.reserve(members);
  s.source_versions.push_back(s.kind == ScreeningKind::kObservationItems
                                  ? st.VersionIdOf(st.observations[c.data[0]])
                                  : s.VersionId());
  if (s.kind == ScreeningKind::kQuestionnaireResponse) {
    s.answers.reserve(c.count);
    for (uint32_t a = 0; a < c.count; ++a) {
      s.answers.push_back({c.data[2 * a], c.data[2 * a + 1], 0});
    }
  } else {
    AddMembers(pidx, c, &s, scratch);
  }
  ++scratch.counts->screenings_counted;
  if (tracing) {
    trace_.push_back({s.Reference(), instruments[c.instrument].id, "counted",
                      s.kind == ScreeningKind::kObservationItems
                          ? "newest counted screening of this instrument: standalone items "
                            "of one effective instant"
                          : "newest counted screening of this instrument",
                      s.when, true});
  }
  return s;
}

// The answers of a panel's (or standalone items') member Observations, hasMember followed.
void ScreeningCollector::AddMembers(uint32_t pidx, const Candidate& c, Screening* s,
                                    FinishScratch& scratch) {
  State& st = *state_;
  const Instrument& instrument = catalog_.instruments()[c.instrument];
  const bool tracing = !options_.only_patient.empty();
  auto& queue = scratch.queue;
  auto& seen = scratch.seen;
  queue.clear();
  seen.clear();
  for (uint32_t m = 0; m < c.count; ++m) queue.push_back({c.data[m], 1});
  while (!queue.empty()) {
    auto [mid, depth] = queue.back();
    queue.pop_back();
    if (depth > options_.max_member_depth) continue;
    if (std::find(seen.begin(), seen.end(), mid) != seen.end()) continue;
    seen.push_back(mid);
    ObservationRecord& m = st.observations[mid];
    // Another patient's panel may name this Observation while that patient's record is built
    // on another thread (Finisher), which sets kUsed on its own Observations: the flags are
    // read and set atomically (relaxed: each bit has one writer, the subject's thread).
    std::atomic_ref<uint8_t> flags_ref(m.flags);
    const uint8_t flags = flags_ref.load(std::memory_order_relaxed);
    const char* rejected = nullptr;
    if ((flags & ObservationRecord::kPresent) == 0) {
      rejected = "member not found in the source";
    } else if ((flags & ObservationRecord::kConflict) != 0) {
      rejected = "member has conflicting lines of one version (skipped)";
    } else if ((flags & ObservationRecord::kValidStatus) == 0) {
      rejected = "member status does not count";
    } else if (m.subject != pidx) {
      rejected = "member belongs to another subject";
    }
    if (rejected != nullptr) {
      if (tracing) {
        Trace("Observation/" + std::string(st.observation_ids.Name(mid)), instrument.id, "ignored",
              rejected);
      }
      continue;
    }
    if ((flags & ObservationRecord::kUsed) == 0) {
      flags_ref.fetch_or(ObservationRecord::kUsed, std::memory_order_relaxed);
      ++scratch.counts->member_observations;
    }
    const ObservationExtra* extra = m.extra != 0 ? &st.obs_extras[m.extra - 1] : nullptr;
    if (m.question != kNoCode && m.answer != kNoCode &&
        catalog_.HasQuestion(s->instrument, m.question)) {
      uint32_t src = static_cast<uint32_t>(s->SourceCount());
      s->AddMemberSource(st.observation_ids.Name(mid));
      s->source_versions.push_back(st.VersionIdOf(m));
      s->answers.push_back({m.question, m.answer, src});
      if (extra != nullptr) {
        for (CodeId a : extra->more_answers) s->answers.push_back({m.question, a, src});
      }
    } else if ((flags & ObservationRecord::kDeclined) != 0 && m.question != kNoCode &&
               catalog_.HasQuestion(s->instrument, m.question)) {
      ++s->declined_items;
    }
    if (tracing) {
      Trace("Observation/" + std::string(st.observation_ids.Name(mid)), instrument.id, "member",
            s->kind == ScreeningKind::kObservationItems ? "standalone item (no panel)" : "");
    }
    if (extra != nullptr) {
      for (uint32_t next : extra->members) queue.push_back({next, depth + 1});
    }
  }
}

}  // namespace sdoh
