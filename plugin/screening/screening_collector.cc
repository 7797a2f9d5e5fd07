#include "plugin/screening/screening_collector.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>

#include "fhir/json.h"
#include "fhir/printable.h"
#include "fhir/resource_id.h"
#include "plugin/screening/answer_value.h"
#include "plugin/screening/interned_ids.h"
#include "plugin/screening/standalone_items.h"
#include "plugin/setup/questionnaire_links.h"

namespace sdoh {

namespace json = fhir::json;
using rapidjson::Value;

namespace {

constexpr std::string_view kLoinc = "http://loinc.org";
constexpr uint32_t kNoPatient = 0xFFFFFFFFu;

// At most `max` bytes of `s`, cut at a UTF-8 character boundary (never inside a character).
std::string_view Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) --max;
  return s.substr(0, max);
}

bool ValidQrStatus(std::string_view s) { return s == "completed" || s == "amended"; }
bool ValidObsStatus(std::string_view s) {
  return s == "final" || s == "amended" || s == "corrected";
}

// Status values go into summaries; anything outside the FHIR code lists is reported generically
// so that free text never reaches a log.
std::string StatusToken(std::string_view s) {
  static const char* kKnown[] = {"in-progress", "completed",  "amended",     "entered-in-error",
                                 "stopped",     "registered", "preliminary", "final",
                                 "corrected",   "cancelled",  "unknown"};
  if (s.empty()) return "status missing";
  for (const char* k : kKnown) {
    if (s == k) return std::string("status ") + k;
  }
  return "status not a known code";
}

// The top-level members the collector reads, found in one pass over the object.
struct Top {
  const Value* meta = nullptr;
  const Value* status = nullptr;
  const Value* subject = nullptr;
  const Value* code = nullptr;
  const Value* questionnaire = nullptr;
  const Value* authored = nullptr;
  const Value* item = nullptr;
  const Value* effective_dt = nullptr;
  const Value* effective_period = nullptr;
  const Value* value_cc = nullptr;
  const Value* has_member = nullptr;
  bool has_other_value = false;  // value[x] that is not a CodeableConcept

  explicit Top(const Value& r) {
    for (const auto& m : r.GetObject()) {
      std::string_view k(m.name.GetString(), m.name.GetStringLength());
      switch (k.size()) {
        case 4:
          if (k == "meta")
            meta = &m.value;
          else if (k == "code")
            code = &m.value;
          else if (k == "item")
            item = &m.value;
          break;
        case 6:
          if (k == "status") status = &m.value;
          break;
        case 7:
          if (k == "subject") subject = &m.value;
          break;
        case 8:
          if (k == "authored") authored = &m.value;
          break;
        case 9:
          if (k == "hasMember") has_member = &m.value;
          break;
        case 13:
          if (k == "questionnaire") questionnaire = &m.value;
          break;
        case 15:
          if (k == "effectivePeriod") effective_period = &m.value;
          break;
        case 17:
          if (k == "effectiveDateTime") effective_dt = &m.value;
          break;
        case 20:
          if (k == "valueCodeableConcept") value_cc = &m.value;
          break;
        default:
          break;
      }
      if (k.size() > 5 && k.compare(0, 5, "value") == 0 &&
          std::isupper(static_cast<unsigned char>(k[5])) && k != "valueCodeableConcept") {
        has_other_value = true;
      }
    }
  }
};

// A canonical decimal (no sign, no leading zero): such versionIds are kept as numbers.
bool CanonicalNumber(std::string_view v, int64_t* out) {
  if (v.empty() || v.size() > 18 || (v.size() > 1 && v[0] == '0')) return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return ec == std::errc() && p == v.data() + v.size();
}

VersionRank RankOf(const Value* meta, uint64_t seq, const fhir::TimeZone& tz,
                   std::string_view* vid) {
  VersionRank rank;
  rank.seq = seq;
  if (meta != nullptr && meta->IsObject()) {
    std::string_view v = json::StrMember(*meta, "versionId");
    if (vid) *vid = v;
    int64_t n = 0;
    if (CanonicalNumber(v, &n)) rank.version = n;
    if (auto t = fhir::ParseFhirDateTime(json::StrMember(*meta, "lastUpdated"), tz)) {
      rank.last_updated = *t;
    }
  }
  return rank;
}

SubjectCheck SubjectOf(const Value* subject, const InputPolicy& policy) {
  if (subject == nullptr) return {};
  return CheckSubject(json::StrMember(*subject, "reference"), policy);
}

// The id of a hasMember reference when it is a valid id on this source, else empty.
std::string_view MemberId(const Value& member, const InputPolicy& policy) {
  const fhir::TypedReference r =
      fhir::SplitReference(json::StrMember(member, "reference"), "Observation");
  if (r.shape == fhir::TypedReference::Shape::kNone || !fhir::IsValidId(r.id)) return {};
  if (r.shape == fhir::TypedReference::Shape::kAbsolute &&
      std::find(policy.local_bases.begin(), policy.local_bases.end(),
                fhir::NormalizeBase(r.base)) == policy.local_bases.end()) {
    return {};
  }
  return r.id;
}

// Same meta.versionId and meta.lastUpdated: only the line order would tell them apart.
bool SameVersion(const VersionRank& a, const VersionRank& b) {
  return a.version == b.version && a.last_updated == b.last_updated;
}

// FNV-1a over what a screening contributes (issue 13 #9: same id and version, other content).
struct ContentHash {
  uint64_t h = 1469598103934665603ULL;
  void Bytes(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  }
  template <typename T>
  void Add(const T& v) {
    Bytes(&v, sizeof v);
  }
  void Add(std::string_view v) {
    Add(v.size());
    Bytes(v.data(), v.size());
  }
  void Add(const std::vector<FhirpathOutcome>& outcomes) {
    for (const FhirpathOutcome& o : outcomes) {
      Add(o.index);
      Add(o.value);
      Add(std::string_view(o.detail));
    }
  }
};

// First LOINC code in a CodeableConcept for which pred(code) holds.
template <typename Pred>
std::string_view FindLoinc(const Value* cc, Pred pred) {
  if (cc == nullptr) return {};
  const Value* codings = json::ArrayMember(*cc, "coding");
  if (codings == nullptr) return {};
  for (const auto& c : codings->GetArray()) {
    if (json::StrMember(c, "system") != kLoinc) continue;
    std::string_view code = json::StrMember(c, "code");
    if (!code.empty() && pred(code)) return code;
  }
  return {};
}

}  // namespace

// A stored non-panel Observation: what a panel needs from its members. 32 bytes, because an
// export holds several per patient; the rare extras (a meta rank, more answers, hasMember, an
// odd versionId) live in a side table. Indexed like the observation id table; an id that was
// only named by a hasMember reference has a record that is not `present`.
struct ObservationRecord {
  // kListed: named in some Observation's hasMember (so never a standalone item);
  // kStandalone: taken into a standalone-items candidate; kConflict: same id and version as
  // another line, other content (issue 13 #9).
  static constexpr uint8_t kPresent = 1, kValidStatus = 2, kUsed = 4, kListed = 8, kStandalone = 16,
                           kConflict = 32;
  uint64_t seq = 0;
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
};

namespace {

bool SameOutcomes(const std::vector<FhirpathOutcome>& a, const std::vector<FhirpathOutcome>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].index != b[i].index || a[i].value != b[i].value || a[i].detail != b[i].detail) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct ScreeningCollector::State {
  IdTable patient_ids;
  ChunkedVector<PatientState> patients;  // by patient_ids index
  IdTable observation_ids;
  ChunkedVector<ObservationRecord> observations;  // by observation_ids index
  std::vector<ObservationExtra> obs_extras;
  ChunkedVector<Candidate> candidates;
  std::vector<CandidateExtra> candidate_extras;
  std::vector<PatientExtra> patient_extras;
  StringArena strings;
  RunArena<uint32_t> runs;
  // Highest rank of a non-counting version, by id: retracts lower counted versions.
  StringMap<VersionRank> qr_tombstones;
  StringMap<VersionRank> obs_tombstones;
  // (observation index, effective instant) of each accepted version of a possible standalone
  // item (issue 14 4a), in acceptance order: the last entry of an index is its current version;
  // kNoInstant when that version has none. A vector, 16 bytes a version, not a hash map.
  static constexpr fhir::InstantMicros kNoInstant = std::numeric_limits<int64_t>::min();
  std::vector<std::pair<uint32_t, fhir::InstantMicros>> item_when;

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

ScreeningCollector::ScreeningCollector(const Catalog& catalog, ScreeningOptions options)
    : catalog_(catalog),
      pass_(catalog),
      options_(std::move(options)),
      forms_(catalog, options_.infer_forms),
      state_(std::make_unique<State>()) {}

ScreeningCollector::~ScreeningCollector() = default;

const std::vector<std::string>& ScreeningCollector::InputTypes() {
  static const std::vector<std::string> kTypes = {"Questionnaire", "Patient",
                                                  "QuestionnaireResponse", "Observation"};
  return kTypes;
}

uint32_t ScreeningCollector::PatientIndex(std::string_view patient_id) {
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

void ScreeningCollector::AddCandidate(uint32_t patient, Candidate c,
                                      const fhir::SourceLocation& where) {
  State& st = *state_;
  PatientState& ps = st.patients[patient];
  // Issue 13 #9: another line with this id and version (the candidates of one line share its
  // seq). Other content, or other instruments (another form): neither line counts, whatever
  // their order. The same content again (a repeated line) is harmless.
  bool same_line_seen = false, same_instrument = false, differs = false, earlier_skipped = false;
  for (uint32_t k = ps.candidates; k != kNoPatient; k = st.candidates[k].next) {
    const Candidate& e = st.candidates[k];
    if (e.kind != c.kind || e.id != c.id || e.rank.seq == c.rank.seq ||
        !SameVersion(e.rank, c.rank)) {
      continue;
    }
    same_line_seen = true;
    if (e.conflict) differs = earlier_skipped = true;
    if (e.instrument == c.instrument) {
      same_instrument = true;
      if (e.content != c.content) differs = true;
    }
  }
  if (same_line_seen && (differs || !same_instrument)) {
    c.conflict = true;
    for (uint32_t k = ps.candidates; k != kNoPatient; k = st.candidates[k].next) {
      Candidate& e = st.candidates[k];
      if (e.kind == c.kind && e.id == c.id && SameVersion(e.rank, c.rank)) e.conflict = true;
    }
    SkipConflict(
        where,
        c.kind == ScreeningKind::kQuestionnaireResponse ? "QuestionnaireResponse" : "Observation",
        c.id, earlier_skipped);
  }
  c.next = ps.candidates;
  ps.candidates = static_cast<uint32_t>(st.candidates.size());
  st.candidates.push_back(c);
}

void ScreeningCollector::EvaluateFhirpath(const Value& resource, int instrument,
                                          std::vector<FhirpathOutcome>* out) {
  if (options_.ruleset == nullptr) return;
  const auto& conditions = options_.ruleset->fhirpath();
  for (size_t i = 0; i < conditions.size(); ++i) {
    const FhirpathCondition& c = conditions[i];
    if (c.instrument != instrument) continue;
    fhir::fhirpath::EvalContext ctx;
    ctx.now = std::chrono::system_clock::time_point(std::chrono::microseconds(options_.now));
    ctx.utc_offset_minutes =
        static_cast<int>(options_.time_zone.UtcOffsetSecondsAtLocal(options_.now / 1000000) / 60);
    fhir::fhirpath::EvalResult r = fhir::fhirpath::Evaluate(c.expression, resource, ctx);
    FhirpathOutcome o;
    o.index = static_cast<uint32_t>(i);
    if (!r.ok()) {
      // The engine's message is not shown: it may quote data from the resource.
      ++counts_.rule_errors["rule " + c.rule_id + ": FHIRPath evaluation error"];
      o.value = Tri::kUnknown;
    } else if (r.items.empty()) {
      o.value = Tri::kUnknown;
    } else if (r.items.size() == 1 && r.items[0].kind() == fhir::fhirpath::ValueKind::kBoolean) {
      o.value = r.items[0].boolean() ? Tri::kTrue : Tri::kFalse;
    } else {
      o.value = Tri::kTrue;
      // The matched nodes: codes of matched Codings, else how many nodes matched.
      std::string codes;
      for (const auto& item : r.items) {
        const Value* node = item.node();
        std::string_view code =
            node != nullptr ? json::StrMember(*node, "code") : std::string_view();
        if (!code.empty() && codes.size() < 200) {
          codes += (codes.empty() ? "" : " ") + std::string(code);
        }
      }
      o.detail = "fhirpath matched " + std::to_string(r.items.size()) + " node(s)" +
                 (codes.empty() ? "" : ": " + codes);
    }
    if (o.value == Tri::kTrue && o.detail.empty()) o.detail = "fhirpath true";
    out->push_back(std::move(o));
  }
}

void ScreeningCollector::Skip(const fhir::SourceLocation& where, std::string_view type,
                              std::string reason, std::string detail) {
  std::string w = std::string(where.origin) + ":" + std::to_string(where.position);
  counts_.Skip({w, std::move(reason), std::string(type) + ": " + detail});
}

void ScreeningCollector::SkipConflict(const fhir::SourceLocation& where, std::string_view type,
                                      std::string_view id, bool earlier_already_skipped) {
  if (conflict_seq_ == seq_) return;  // one report per line (a combined form's candidates)
  conflict_seq_ = seq_;
  Skip(where, type, "conflicting-versions",
       std::string(type) + "/" + std::string(id) +
           ": an earlier line has the same id, meta.versionId and meta.lastUpdated but other "
           "content; neither counts");
  // The earlier line is skipped too; it is counted once, when the conflict is first seen.
  if (!earlier_already_skipped) ++counts_.skipped["conflicting-versions"];
}

void ScreeningCollector::Trace(std::string reference, std::string instrument, std::string outcome,
                               std::string reason) {
  if (options_.only_patient.empty()) return;
  trace_.push_back({std::move(reference), std::move(instrument), std::move(outcome),
                    std::move(reason), 0, false});
}

void ScreeningCollector::OnUnreadable(std::string_view expected_type,
                                      const fhir::SourceLocation& where, std::string_view reason,
                                      const std::string& detail) {
  ++counts_.read[std::string(expected_type)];
  Skip(where, expected_type, std::string(reason), detail);
}

void ScreeningCollector::OnResource(std::string_view expected_type, const Value& resource,
                                    const fhir::SourceLocation& where) {
  // The read counter of the type, cached: stores read one type at a time.
  if (read_counter_ == nullptr || read_type_ != expected_type) {
    auto it = counts_.read.find(expected_type);
    if (it == counts_.read.end()) it = counts_.read.emplace(std::string(expected_type), 0).first;
    read_counter_ = &it->second;
    read_type_ = it->first;
  }
  ++*read_counter_;
  ++seq_;
  if (!resource.IsObject()) {
    Skip(where, expected_type, "not-an-object", "the line is JSON but not an object");
    return;
  }
  std::string_view type = json::StrMember(resource, "resourceType");
  if (type != expected_type) {
    Skip(where, expected_type, "wrong-resource-type",
         type.empty() ? "resourceType missing"
                      : "resourceType is '" + fhir::Printable(type, 64) + "', expected " +
                            std::string(expected_type));
    return;
  }
  if (json::StrMember(resource, "id").empty()) {
    Skip(where, expected_type, "missing-id", "id missing or not a string");
    return;
  }
  // The id is not shown: it may hold control characters or a path (issue 13 #6).
  if (!fhir::IsValidId(json::StrMember(resource, "id"))) {
    Skip(where, expected_type, "invalid-id", "id is not a FHIR id ([A-Za-z0-9-.]{1,64})");
    return;
  }
  if (type == "Observation") {
    AddObservation(resource, where);
  } else if (type == "QuestionnaireResponse") {
    AddQuestionnaireResponse(resource, where);
  } else if (type == "Patient") {
    AddPatient(resource, where);
  } else if (type == "Questionnaire") {
    AddQuestionnaire(resource, where);
  } else {
    counts_.Ignore(std::string(type), "type not read");
  }
}

void ScreeningCollector::AddQuestionnaire(const Value& r, const fhir::SourceLocation& where) {
  std::string_view url = json::StrMember(r, "url");
  if (url.empty()) {
    counts_.Ignore("Questionnaire", "no url");
    return;
  }
  // The Questionnaire of a form mappings/forms/ does not name is kept for this pass only, with
  // the codes that are configured questions (form_inference.h): the catalog is not touched.
  const bool mapped = catalog_.FindForm(url) != nullptr;
  Catalog::LinkMap map;
  if (fhir::Status st = QuestionnaireLinks(
          r, options_.max_item_depth,
          [&](std::string_view code) { return mapped ? pass_.Intern(code) : pass_.Find(code); },
          &map);
      !st.ok()) {
    Skip(where, "Questionnaire", "too-deep", st.message());
    return;
  }
  if (!mapped) {  // only configured questions matter for inference
    std::erase_if(map, [&](const auto& link) {
      return link.second == kNoCode || !catalog_.IsQuestion(link.second);
    });
    if (map.empty()) counts_.Ignore("Questionnaire", "form not mapped, asks no known question");
    forms_.AddQuestionnaire(url, std::move(map));
    return;
  }
  const uint64_t conflicts = pass_.conflicts();
  if (!pass_.AddQuestionnaire(url, json::StrMember(r, "version"), std::move(map))) {
    // The catalog defines this form: its definition wins, in every pass and call.
    counts_.Ignore("Questionnaire", pass_.conflicts() > conflicts
                                        ? "conflicts with the catalog's definition of the form"
                                        : "form defined by the catalog");
  }
}

void ScreeningCollector::AddPatient(const Value& r, const fhir::SourceLocation& where) {
  std::string_view id = json::StrMember(r, "id");
  if (!Wanted(id)) return;
  PatientFacts f;
  f.present = true;
  std::string_view vid;
  f.rank = RankOf(json::Member(r, "meta"), seq_, options_.time_zone, &vid);
  f.version_id = std::string(vid);
  f.active = !json::IsFalse(r, "active");
  f.deceased = json::IsTrue(r, "deceasedBoolean") || json::Member(r, "deceasedDateTime") != nullptr;
  const InterpreterSettings& is = catalog_.interpreter();
  bool yes = false, no = false;
  if (const Value* exts = json::ArrayMember(r, "extension")) {
    for (const auto& e : exts->GetArray()) {
      std::string_view url = json::StrMember(e, "url");
      if (url == is.required_extension) {
        if (json::IsTrue(e, "valueBoolean")) yes = true;
        if (json::IsFalse(e, "valueBoolean")) no = true;
      } else if (url == is.needed_extension) {
        if (const Value* c = json::Member(e, "valueCoding")) {
          if (json::StrMember(*c, "system") != is.answer_system) continue;
          std::string_view code = json::StrMember(*c, "code");
          if (code == is.yes_code) yes = true;
          if (code == is.no_code) no = true;  // unknown_code: absent
        }
      }
    }
  }
  EvaluateFhirpath(r, -1, &f.fhirpath);
  f.interpreter = yes ? InterpreterStatement::kNeeded
                      : (no ? InterpreterStatement::kNotNeeded : InterpreterStatement::kNone);
  if (const Value* comms = json::ArrayMember(r, "communication")) {
    for (const auto& c : comms->GetArray()) {
      if (!json::IsTrue(c, "preferred")) continue;
      const Value* lang = json::Member(c, "language");
      const Value* codings = lang ? json::ArrayMember(*lang, "coding") : nullptr;
      if (codings == nullptr) continue;
      for (const auto& coding : codings->GetArray()) {
        if (json::StrMember(coding, "system") != is.language_system) continue;
        std::string_view tag = json::StrMember(coding, "code");
        std::string primary(tag.substr(0, tag.find('-')));
        std::transform(primary.begin(), primary.end(), primary.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (primary.empty() || primary == is.default_language) continue;
        if (!f.prefers_other_language) {
          f.prefers_other_language = true;
          f.preferred_language = std::string(Utf8Prefix(tag, 35));
          f.preferred_language_display =
              std::string(Utf8Prefix(json::StrMember(coding, "display"), 64));
        }
      }
    }
  }
  State& st = *state_;
  PatientState& ps = st.patients[PatientIndex(id)];
  // What this line says differs from what the stored line of the same version said.
  auto conflicts = [&] {
    if ((ps.flags & PatientState::kConflict) != 0) return true;
    const uint8_t facts = (f.active ? 0 : PatientState::kInactive) |
                          (f.deceased ? PatientState::kDeceased : 0) |
                          (f.prefers_other_language ? PatientState::kOtherLanguage : 0);
    if ((ps.flags & ~(PatientState::kPresent | PatientState::kConflict)) != facts ||
        ps.interpreter != f.interpreter) {
      return true;
    }
    static const PatientExtra kNoExtra;
    const PatientExtra& e = ps.extra != 0 ? st.patient_extras[ps.extra - 1] : kNoExtra;
    int64_t n = 0;
    const std::string_view odd_vid =
        CanonicalNumber(f.version_id, &n) ? std::string_view() : std::string_view(f.version_id);
    return e.version_id != odd_vid || e.preferred_language != f.preferred_language ||
           e.preferred_language_display != f.preferred_language_display ||
           !SameOutcomes(e.fhirpath, f.fhirpath);
  };
  if ((ps.flags & PatientState::kPresent) != 0 && SameVersion(ps.rank, f.rank) && conflicts()) {
    // Issue 13 #9: neither line counts, whatever their order; the patient reads as absent.
    const bool earlier = (ps.flags & PatientState::kConflict) != 0;
    ps.flags |= PatientState::kConflict;
    SkipConflict(where, "Patient", id, earlier);
    return;
  }
  if ((ps.flags & PatientState::kPresent) != 0) {
    counts_.Ignore("Patient", "older version of a patient read twice");
    if (f.rank < ps.rank) return;
  }
  ps.rank = f.rank;
  ps.interpreter = f.interpreter;
  ps.flags = PatientState::kPresent | (f.active ? 0 : PatientState::kInactive) |
             (f.deceased ? PatientState::kDeceased : 0) |
             (f.prefers_other_language ? PatientState::kOtherLanguage : 0);
  int64_t numeric = 0;
  if (!f.version_id.empty() && CanonicalNumber(f.version_id, &numeric)) f.version_id.clear();
  if (f.version_id.empty() && f.preferred_language.empty() &&
      f.preferred_language_display.empty() && f.fhirpath.empty()) {
    ps.extra = 0;
    return;
  }
  PatientExtra e{std::move(f.version_id), std::move(f.preferred_language),
                 std::move(f.preferred_language_display), std::move(f.fhirpath)};
  if (ps.extra != 0) {
    st.patient_extras[ps.extra - 1] = std::move(e);
  } else {
    st.patient_extras.push_back(std::move(e));
    ps.extra = static_cast<uint32_t>(st.patient_extras.size());
  }
}

void ScreeningCollector::AddQuestionnaireResponse(const Value& r,
                                                  const fhir::SourceLocation& where) {
  const Top top(r);
  std::string_view id = json::StrMember(r, "id");
  std::string_view vid;
  VersionRank rank = RankOf(top.meta, seq_, options_.time_zone, &vid);
  const SubjectCheck subject = SubjectOf(top.subject, options_.input);
  std::string_view patient = subject.id;  // empty unless a local, valid Patient id
  auto tombstone = [&](const std::string& reason) {
    counts_.Ignore("QuestionnaireResponse", reason);
    auto [it, inserted] = state_->qr_tombstones.try_emplace(std::string(id), rank);
    if (!inserted) it->second = std::max(it->second, rank);
    if (Wanted(patient) && !patient.empty()) {
      Trace("QuestionnaireResponse/" + std::string(id), "", "ignored", reason);
    }
  };
  std::string_view status = json::Str(top.status);
  if (!ValidQrStatus(status)) return tombstone(StatusToken(status));
  std::string_view canonical = json::Str(top.questionnaire);
  const Form* form = canonical.empty() ? nullptr : catalog_.FindForm(canonical);
  // How the form is read: its mapping, else inference (issue 14 item 5a), else it is dropped
  // and counted by canonical so that the pass warns and exits 3 (item 5b).
  const std::vector<InstrumentIndex>* instruments = nullptr;
  const StringMap<CodeId>* local_ids = nullptr;
  const Catalog::LinkMap* qmap = nullptr;
  if (form != nullptr) {
    forms_.CountMapped(canonical, *form);
    if (form->instruments.empty()) return tombstone("form mapped as not a screening");
    instruments = &form->instruments;
    local_ids = &form->link_ids;
    qmap = pass_.FindQuestionnaire(canonical);
  } else {
    const FormInference::Inferred* inferred = forms_.Infer(canonical, top.item);
    if (inferred == nullptr) return tombstone("form not mapped to an instrument");
    instruments = &inferred->instruments;
    if (!inferred->link_ids.empty()) qmap = &inferred->link_ids;
    if (Wanted(patient) && !patient.empty()) {
      std::string ids;
      for (InstrumentIndex i : *instruments) {
        ids += (ids.empty() ? "" : ",") + catalog_.instruments()[i].id;
      }
      Trace("QuestionnaireResponse/" + std::string(id), ids, "inferred",
            "form " + std::string(StripCanonicalVersion(canonical)) +
                " is not in mappings/forms/: read as " + ids + " through " + inferred->by);
    }
  }
  if (top.authored == nullptr) return tombstone("authored missing");
  auto authored = fhir::ParseFhirDateTime(json::Str(top.authored), options_.time_zone);
  if (!authored) {
    Skip(where, "QuestionnaireResponse", "invalid-date", "authored is not a valid dateTime");
    return;
  }
  if (subject.kind == SubjectCheck::Kind::kInvalid) {
    Skip(where, "QuestionnaireResponse", "invalid-id",
         "subject.reference: the Patient id is not a FHIR id");
    return;
  }
  if (subject.kind == SubjectCheck::Kind::kNone) {
    Skip(where, "QuestionnaireResponse", "missing-subject",
         "subject.reference does not name a Patient");
    return;
  }
  if (subject.kind == SubjectCheck::Kind::kForeign) return tombstone("foreign-subject");
  if (*authored > options_.input.latest_date) return tombstone("future-dated");
  if (!Wanted(patient)) return;

  const size_t n = instruments->size();
  std::vector<Answer>& answers = scratch_answers_;
  answers.clear();
  PassCatalog& codes = pass_;
  // Iterative walk over item, item.item and answer.item at any depth.
  auto& stack = scratch_items_;
  stack.clear();
  if (top.item != nullptr && top.item->IsArray()) {
    for (const auto& item : top.item->GetArray()) stack.push_back({&item, 1});
  }
  while (!stack.empty()) {
    auto [item, depth] = stack.back();
    stack.pop_back();
    if (depth > options_.max_item_depth) {
      Skip(where, "QuestionnaireResponse", "too-deep",
           "item nesting deeper than " + std::to_string(options_.max_item_depth));
      return;
    }
    if (!item->IsObject()) continue;
    std::string_view link;
    const Value* answer_list = nullptr;
    const Value* children = nullptr;
    for (const auto& m : item->GetObject()) {
      std::string_view k(m.name.GetString(), m.name.GetStringLength());
      if (k == "linkId")
        link = json::Str(&m.value);
      else if (k == "answer" && m.value.IsArray())
        answer_list = &m.value;
      else if (k == "item" && m.value.IsArray())
        children = &m.value;
    }
    CodeId q = kNoCode;
    if (qmap != nullptr) {  // (a) the form's Questionnaire
      auto it = qmap->find(link);
      if (it != qmap->end()) q = it->second;
    }
    if (q == kNoCode && local_ids != nullptr && !local_ids->empty()) {  // (b) local linkId map
      auto it = local_ids->find(link);
      if (it != local_ids->end()) q = it->second;
    }
    if (q == kNoCode) {  // (c) a LOINC-shaped last segment
      size_t slash = link.rfind('/');
      std::string_view last = slash == std::string_view::npos ? link : link.substr(slash + 1);
      if (IsLoincShaped(last)) q = codes.Find(last);
    }
    bool keep = q != kNoCode && catalog_.IsQuestion(q);
    if (answer_list != nullptr) {
      for (const auto& a : answer_list->GetArray()) {
        if (!a.IsObject()) continue;
        if (keep) {
          CodeId code = kNonLoincAnswer;
          if (const Value* vc = json::Member(a, "valueCoding")) {
            std::string_view c = json::StrMember(*vc, "code");
            if (!c.empty() && json::StrMember(*vc, "system") == kLoinc) code = codes.Intern(c);
          } else {
            code = NumericAnswerCode(a);
          }
          answers.push_back({q, code, 0});
        }
        if (const Value* sub = json::ArrayMember(a, "item")) {
          for (const auto& child : sub->GetArray()) stack.push_back({&child, depth + 1});
        }
      }
    }
    if (children != nullptr) {
      for (const auto& child : children->GetArray()) stack.push_back({&child, depth + 1});
    }
  }
  State& st = *state_;
  const uint32_t pidx = PatientIndex(patient);
  const std::string_view stored_id = st.strings.Add(id);
  int64_t numeric = 0;
  const bool odd_version = !vid.empty() && !CanonicalNumber(vid, &numeric);
  ContentHash base;
  base.Add(canonical);
  base.Add(*authored);
  base.Add(vid);
  for (const Answer& a : answers) {
    base.Add(a.question);
    base.Add(a.answer);
  }
  for (size_t i = 0; i < n; ++i) {
    Candidate c;
    c.kind = ScreeningKind::kQuestionnaireResponse;
    c.when = *authored;
    c.id = stored_id;
    c.rank = rank;
    c.instrument = (*instruments)[i];
    std::vector<FhirpathOutcome> fhirpath;
    EvaluateFhirpath(r, c.instrument, &fhirpath);
    size_t kept = 0;
    for (const Answer& a : answers) {
      if (n == 1 || catalog_.HasQuestion(c.instrument, a.question)) ++kept;
    }
    uint32_t* data = st.runs.Allocate(2 * kept);
    c.data = data;
    c.count = static_cast<uint32_t>(kept);
    for (const Answer& a : answers) {
      if (n == 1 || catalog_.HasQuestion(c.instrument, a.question)) {
        *data++ = a.question;
        *data++ = a.answer;
      }
    }
    ContentHash content = base;
    content.Add(c.instrument);
    content.Add(fhirpath);
    c.content = content.h;
    if (odd_version || !fhirpath.empty()) {
      st.candidate_extras.push_back(
          {odd_version ? std::string(vid) : std::string(), std::move(fhirpath)});
      c.extra = static_cast<uint32_t>(st.candidate_extras.size());
    }
    AddCandidate(pidx, c, where);
  }
}

void ScreeningCollector::AddObservation(const Value& r, const fhir::SourceLocation& where) {
  const Top top(r);
  std::string_view id = json::StrMember(r, "id");
  const Instrument* panel_of = nullptr;
  CodeId q = kNoCode;
  FindLoinc(top.code, [&](std::string_view c) {
    panel_of = catalog_.InstrumentForPanel(c);
    if (panel_of != nullptr) return true;
    if (q == kNoCode) {
      CodeId cid = pass_.Find(c);
      if (cid != kNoCode && catalog_.IsQuestion(cid)) q = cid;
    }
    return false;
  });
  const bool has_members = top.has_member != nullptr && top.has_member->IsArray();
  if (panel_of == nullptr && q == kNoCode && !has_members) {
    counts_.Ignore("Observation", "not a screening observation");
    return;
  }
  std::string_view status = json::Str(top.status);
  const SubjectCheck subject = SubjectOf(top.subject, options_.input);
  std::string_view patient = subject.id;  // empty unless a local, valid Patient id
  std::string_view vid;
  VersionRank rank = RankOf(top.meta, seq_, options_.time_zone, &vid);
  State& st = *state_;
  int64_t numeric = 0;
  const bool odd_version = !vid.empty() && !CanonicalNumber(vid, &numeric);

  if (panel_of != nullptr) {
    // Whatever the panel's status, what it lists is a member, never a standalone item.
    if (has_members) {
      for (const auto& m : top.has_member->GetArray()) {
        std::string_view mid = MemberId(m, options_.input);
        if (!mid.empty()) st.ListedObservationIndex(mid);
      }
    }
    auto tombstone = [&](const std::string& reason) {
      counts_.Ignore("Observation", "panel " + reason);
      auto [it, inserted] = st.obs_tombstones.try_emplace(std::string(id), rank);
      if (!inserted) it->second = std::max(it->second, rank);
      if (Wanted(patient) && !patient.empty()) {
        Trace("Observation/" + std::string(id), panel_of->id, "ignored", reason);
      }
    };
    if (!ValidObsStatus(status)) return tombstone(StatusToken(status));
    std::string_view eff = json::Str(top.effective_dt);
    if (eff.empty() && top.effective_period != nullptr) {
      eff = json::StrMember(*top.effective_period, "start");
    }
    if (eff.empty()) return tombstone("effective[x] missing");
    auto when = fhir::ParseFhirDateTime(eff, options_.time_zone);
    if (!when) {
      Skip(where, "Observation", "invalid-date", "effective is not a valid dateTime");
      return;
    }
    if (subject.kind == SubjectCheck::Kind::kInvalid) {
      Skip(where, "Observation", "invalid-id",
           "subject.reference: the Patient id is not a FHIR id");
      return;
    }
    if (subject.kind == SubjectCheck::Kind::kNone) {
      Skip(where, "Observation", "missing-subject", "subject.reference does not name a Patient");
      return;
    }
    if (subject.kind == SubjectCheck::Kind::kForeign) return tombstone("foreign-subject");
    if (*when > options_.input.latest_date) return tombstone("future-dated");
    if (!Wanted(patient)) return;
    Candidate c;
    c.kind = ScreeningKind::kObservationPanel;
    c.instrument = panel_of->index;
    c.when = *when;
    c.id = st.strings.Add(id);
    c.rank = rank;
    std::vector<uint32_t>& members = scratch_members_;
    members.clear();
    if (has_members) {
      for (const auto& m : top.has_member->GetArray()) {
        std::string_view mid = MemberId(m, options_.input);
        if (mid.empty()) continue;
        members.push_back(st.ListedObservationIndex(mid));
      }
    }
    uint32_t* data = st.runs.Allocate(members.size());
    if (!members.empty()) std::memcpy(data, members.data(), members.size() * sizeof(uint32_t));
    c.data = data;
    c.count = static_cast<uint32_t>(members.size());
    std::vector<FhirpathOutcome> fhirpath;
    EvaluateFhirpath(r, c.instrument, &fhirpath);
    ContentHash content;
    content.Add(c.instrument);
    content.Add(c.when);
    content.Add(vid);
    content.Bytes(members.data(), members.size() * sizeof(uint32_t));
    content.Add(fhirpath);
    c.content = content.h;
    if (odd_version || !fhirpath.empty()) {
      st.candidate_extras.push_back(
          {odd_version ? std::string(vid) : std::string(), std::move(fhirpath)});
      c.extra = static_cast<uint32_t>(st.candidate_extras.size());
    }
    AddCandidate(PatientIndex(patient), c, where);
    return;
  }

  // Not a panel, but a possible member that matters.
  if (subject.kind == SubjectCheck::Kind::kInvalid) {
    Skip(where, "Observation", "invalid-id", "subject.reference: the Patient id is not a FHIR id");
    return;
  }
  if (!Wanted(patient)) return;
  ObservationRecord rec;
  rec.subject = patient.empty() ? kNoPatient : PatientIndex(patient);
  rec.question = q;
  rec.flags = ObservationRecord::kPresent |
              (ValidObsStatus(status) ? ObservationRecord::kValidStatus : uint8_t{0});
  rec.seq = rank.seq;
  ObservationExtra extra;
  extra.version = rank.version;
  extra.last_updated = rank.last_updated;
  bool need_extra = rank.version >= 0 || rank.last_updated != VersionRank{}.last_updated;
  if (odd_version) {
    extra.version_id = std::string(vid);
    need_extra = true;
  }
  auto add_answer = [&](CodeId a) {
    if (rec.answer == kNoCode) {
      rec.answer = a;
    } else {
      extra.more_answers.push_back(a);
      need_extra = true;
    }
  };
  if (top.value_cc != nullptr) {
    bool any = false;
    if (const Value* codings = json::ArrayMember(*top.value_cc, "coding")) {
      for (const auto& c : codings->GetArray()) {
        std::string_view code = json::StrMember(c, "code");
        if (!code.empty() && json::StrMember(c, "system") == kLoinc) {
          add_answer(pass_.Intern(code));
          any = true;
        }
      }
    }
    if (!any) add_answer(kNonLoincAnswer);
  } else if (top.has_other_value) {
    add_answer(NumericAnswerCode(r));
  }
  if (has_members) {
    for (const auto& m : top.has_member->GetArray()) {
      std::string_view mid = MemberId(m, options_.input);
      if (!mid.empty()) {
        extra.members.push_back(st.ListedObservationIndex(mid));
        need_extra = true;
      }
    }
  }
  const uint32_t index = st.ObservationIndex(id);
  ObservationRecord& current = st.observations[index];
  if ((current.flags & ObservationRecord::kPresent) != 0) {
    const VersionRank current_rank = st.RankOf(current);
    if (SameVersion(current_rank, rank)) {  // issue 13 #9: the same content, or neither counts
      static const ObservationExtra kNoExtra;
      const ObservationExtra& e = current.extra != 0 ? st.obs_extras[current.extra - 1] : kNoExtra;
      const bool earlier = (current.flags & ObservationRecord::kConflict) != 0;
      const uint8_t kSame = ObservationRecord::kValidStatus;
      if (earlier || current.subject != rec.subject || current.question != rec.question ||
          current.answer != rec.answer || (current.flags & kSame) != (rec.flags & kSame) ||
          e.more_answers != extra.more_answers || e.members != extra.members ||
          e.version_id != extra.version_id) {
        current.flags |= ObservationRecord::kConflict;
        SkipConflict(where, "Observation", id, earlier);
        return;
      }
    }
    counts_.Ignore("Observation", "older version read twice");
    if (!(current_rank < rank)) return;
  }
  rec.flags |= current.flags & ObservationRecord::kListed;
  // A possible standalone item (issue 14 item 4a): a question with an effective instant.
  std::string_view eff = json::Str(top.effective_dt);
  if (eff.empty() && top.effective_period != nullptr) {
    eff = json::StrMember(*top.effective_period, "start");
  }
  auto when = q != kNoCode && !has_members && !eff.empty()
                  ? fhir::ParseFhirDateTime(eff, options_.time_zone)
                  : std::nullopt;
  if (when || (current.flags & ObservationRecord::kPresent) != 0) {
    st.item_when.emplace_back(index, when ? *when : State::kNoInstant);
  }
  if (need_extra) {
    if (current.extra != 0) {
      st.obs_extras[current.extra - 1] = std::move(extra);
      rec.extra = current.extra;
    } else {
      st.obs_extras.push_back(std::move(extra));
      rec.extra = static_cast<uint32_t>(st.obs_extras.size());
    }
  }
  current = rec;
}

void ScreeningCollector::AddStandaloneCandidates() {
  State& st = *state_;
  std::vector<StandaloneItem> items;
  // The current version's instant of each item: the last entry of its index.
  std::stable_sort(st.item_when.begin(), st.item_when.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < st.item_when.size(); ++i) {
    if (i + 1 < st.item_when.size() && st.item_when[i + 1].first == st.item_when[i].first) {
      continue;
    }
    const auto [index, when] = st.item_when[i];
    if (when == State::kNoInstant) continue;
    const ObservationRecord& o = st.observations[index];
    const uint8_t need = ObservationRecord::kPresent | ObservationRecord::kValidStatus;
    if ((o.flags & need) != need || (o.flags & ObservationRecord::kListed) != 0) continue;
    if (o.question == kNoCode || o.subject == kNoPatient) continue;
    if (o.extra != 0 && !st.obs_extras[o.extra - 1].members.empty()) continue;
    items.push_back({o.subject, when, index, o.question});
  }
  // Items in id order, so that a group's id (its first item's) does not depend on read order.
  std::sort(items.begin(), items.end(), [&](const StandaloneItem& a, const StandaloneItem& b) {
    return st.observation_ids.Name(a.observation) < st.observation_ids.Name(b.observation);
  });
  for (ItemGroup& g : GroupStandaloneItems(catalog_, std::move(items))) {
    Candidate c;
    c.kind = ScreeningKind::kObservationItems;
    c.instrument = g.instrument;
    c.when = g.when;
    c.id = st.strings.Add(st.observation_ids.Name(g.observations[0]));
    c.rank = st.RankOf(st.observations[g.observations[0]]);
    uint32_t* data = st.runs.Allocate(g.observations.size());
    std::memcpy(data, g.observations.data(), g.observations.size() * sizeof(uint32_t));
    c.data = data;
    c.count = static_cast<uint32_t>(g.observations.size());
    for (uint32_t o : g.observations) st.observations[o].flags |= ObservationRecord::kStandalone;
    AddCandidate(g.patient, c, fhir::SourceLocation{"standalone item Observations", 0});
  }
}

void ScreeningCollector::Finish(const std::function<void(PatientRecord&)>& fn) {
  State& st = *state_;
  AddStandaloneCandidates();
  std::vector<uint32_t> order(st.patients.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return st.patient_ids.Name(a) < st.patient_ids.Name(b);
  });
  const auto& instruments = catalog_.instruments();
  const bool tracing = !options_.only_patient.empty();
  std::vector<int> best(instruments.size());
  std::vector<char> drop;
  std::vector<uint32_t> cand_index;
  std::vector<std::pair<uint32_t, size_t>> queue;  // (observation index, depth)
  std::vector<uint32_t> seen;
  auto type_name = [](const Candidate& c) {
    return c.kind == ScreeningKind::kQuestionnaireResponse ? "QuestionnaireResponse"
                                                           : "Observation";
  };
  auto reference = [&](const Candidate& c) {
    return std::string(type_name(c)) + "/" + std::string(c.id);
  };

  for (uint32_t pidx : order) {
    PatientState& ps = st.patients[pidx];
    PatientRecord rec;
    rec.id = std::string(st.patient_ids.Name(pidx));
    PatientFacts& f = rec.facts;
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
    }
    if (f.version_id.empty() && f.rank.version >= 0) f.version_id = std::to_string(f.rank.version);
    if ((ps.flags & PatientState::kConflict) != 0) f = PatientFacts{};  // issue 13 #9

    // The patient's candidates in the order they were read.
    cand_index.clear();
    for (uint32_t c = ps.candidates; c != kNoPatient; c = st.candidates[c].next) {
      cand_index.push_back(c);
    }
    std::reverse(cand_index.begin(), cand_index.end());
    const size_t n = cand_index.size();
    auto cand = [&](size_t i) -> Candidate& { return st.candidates[cand_index[i]]; };
    // 1. Versions: a newer non-counting version retracts; of one id keep the highest rank.
    drop.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const Candidate& c = cand(i);
      if (c.kind == ScreeningKind::kObservationItems) continue;  // built from current versions
      const auto& tombs =
          c.kind == ScreeningKind::kQuestionnaireResponse ? st.qr_tombstones : st.obs_tombstones;
      if (tombs.empty()) continue;
      auto t = tombs.find(c.id);
      // A non-counting line of the same version retracts too, whatever the line order (#9).
      if (t != tombs.end() && SameVersion(c.rank, t->second)) {
        drop[i] = 1;
        counts_.Ignore(type_name(c),
                       "conflicting-versions (a line of the same version does not count)");
        if (tracing) {
          Trace(reference(c), instruments[c.instrument].id, "ignored",
                "conflicting-versions: a line of the same version does not count");
        }
      } else if (t != tombs.end() && c.rank < t->second) {
        drop[i] = 1;
        counts_.Ignore(type_name(c), "retracted by a newer version");
        if (tracing) {
          Trace(reference(c), instruments[c.instrument].id, "ignored",
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
          counts_.Ignore(type_name(a), "older version of the same screening");
        }
      }
    }
    // Lines in conflict (same id and version, other content: issue 13 #9) count for nothing,
    // but still retract the older versions above, like any newer version.
    for (size_t i = 0; i < n; ++i) {
      if (!drop[i] && cand(i).conflict) {
        drop[i] = 1;
        if (tracing) {
          Trace(reference(cand(i)), instruments[cand(i).instrument].id, "skipped",
                "conflicting-versions: same id and version as another line, other content");
        }
      }
    }
    // 2. Newest wins per instrument: latest instant; at an equal instant a QR or panel beats
    // standalone items (often extracted from it), then the greater id byte-wise wins.
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
      counts_.Ignore(type_name(c), "superseded by a newer screening");
      if (tracing) {
        trace_.push_back({reference(c), instruments[c.instrument].id, "superseded",
                          "a newer screening of this instrument counts", c.when, true});
      }
    }
    // 3. The winners as full Screenings; panel members resolved.
    for (size_t k = 0; k < instruments.size(); ++k) {
      if (best[k] < 0) continue;
      Candidate& c = cand(best[k]);
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
      s.sources.push_back(s.Reference());
      s.source_versions.push_back(s.kind == ScreeningKind::kObservationItems
                                      ? st.VersionIdOf(st.observations[c.data[0]])
                                      : s.VersionId());
      if (s.kind == ScreeningKind::kQuestionnaireResponse) {
        s.answers.reserve(c.count);
        for (uint32_t a = 0; a < c.count; ++a) {
          s.answers.push_back({c.data[2 * a], c.data[2 * a + 1], 0});
        }
      } else {
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
          const char* rejected = nullptr;
          if ((m.flags & ObservationRecord::kPresent) == 0) {
            rejected = "member not found in the source";
          } else if ((m.flags & ObservationRecord::kConflict) != 0) {
            rejected = "member has conflicting lines of one version (skipped)";
          } else if ((m.flags & ObservationRecord::kValidStatus) == 0) {
            rejected = "member status does not count";
          } else if (m.subject != pidx) {
            rejected = "member belongs to another subject";
          }
          if (rejected != nullptr) {
            if (tracing) {
              Trace("Observation/" + std::string(st.observation_ids.Name(mid)), instruments[k].id,
                    "ignored", rejected);
            }
            continue;
          }
          if ((m.flags & ObservationRecord::kUsed) == 0) {
            m.flags |= ObservationRecord::kUsed;
            ++counts_.member_observations;
          }
          const ObservationExtra* extra = m.extra != 0 ? &st.obs_extras[m.extra - 1] : nullptr;
          if (m.question != kNoCode && m.answer != kNoCode &&
              catalog_.HasQuestion(s.instrument, m.question)) {
            uint32_t src = static_cast<uint32_t>(s.sources.size());
            s.sources.push_back("Observation/" + std::string(st.observation_ids.Name(mid)));
            s.source_versions.push_back(st.VersionIdOf(m));
            s.answers.push_back({m.question, m.answer, src});
            if (extra != nullptr) {
              for (CodeId a : extra->more_answers) s.answers.push_back({m.question, a, src});
            }
          }
          if (tracing) {
            Trace("Observation/" + std::string(st.observation_ids.Name(mid)), instruments[k].id,
                  "member",
                  s.kind == ScreeningKind::kObservationItems ? "standalone item (no panel)" : "");
          }
          if (extra != nullptr) {
            for (uint32_t next : extra->members) queue.push_back({next, depth + 1});
          }
        }
      }
      ++counts_.screenings_counted;
      if (tracing) {
        trace_.push_back({s.Reference(), instruments[k].id, "counted",
                          s.kind == ScreeningKind::kObservationItems
                              ? "newest counted screening of this instrument: standalone items "
                                "of one effective instant"
                              : "newest counted screening of this instrument",
                          s.when, true});
      }
      rec.counted.push_back(std::move(s));
    }
    fn(rec);
  }
  for (size_t i = 0; i < st.observations.size(); ++i) {
    const ObservationRecord& o = st.observations[i];
    if ((o.flags & ObservationRecord::kPresent) != 0 &&
        (o.flags & (ObservationRecord::kUsed | ObservationRecord::kStandalone |
                    ObservationRecord::kConflict)) == 0) {
      counts_.Ignore("Observation", "not reached by a counted panel");
    }
  }
}

}  // namespace sdoh
