// The Observation reader of the screening collector (screening_collector.h): panels (with
// hasMember) become candidates; other Observations with a configured question are stored as
// 40-byte records that panels resolve at Finish(), or that form standalone-item candidates
// (issue 14 item 4a).
#include "plugin/screening/screening_collector.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "fhir/json.h"
#include "fhir/resource_id.h"
#include "plugin/screening/answer_value.h"
#include "plugin/screening/collector_state.h"
#include "plugin/screening/content_hash.h"
#include "plugin/screening/resource_scan.h"
#include "plugin/screening/standalone_items.h"

namespace sdoh {

namespace json = fhir::json;
using rapidjson::Value;

namespace {

bool ValidObsStatus(std::string_view s) {
  return s == "final" || s == "amended" || s == "corrected";
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

// What AddObservation read from an Observation line before it knows whether it is a panel.
struct ScreeningCollector::ObservationLine {
  const Value& r;
  const Top& top;
  const fhir::SourceLocation& where;
  std::string_view id;
  std::string_view status;
  SubjectCheck subject;
  std::string_view patient;  // empty unless a local, valid Patient id
  std::string_view vid;      // meta.versionId
  VersionRank rank;
  bool odd_version = false;  // a versionId that is not a canonical number
  bool has_members = false;
};

void ScreeningCollector::AddObservation(const Value& r, const fhir::SourceLocation& where) {
  const Top top(r);
  std::string_view id = json::StrMember(r, "id");
  // A stored Observation's id is interned once its line is read: meanwhile the table's slot
  // comes into the cache (a panel's id is not interned, nor an Observation that is not kept:
  // a useless hint costs a hash of the id).
  state_->observation_ids.Prefetch(id);
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
  std::string_view vid;
  const VersionRank rank = RankOf(top.meta, seq_, options_.time_zone, &vid);
  int64_t numeric = 0;
  const ObservationLine line{.r = r,
                             .top = top,
                             .where = where,
                             .id = id,
                             .status = status,
                             .subject = subject,
                             .patient = subject.id,
                             .vid = vid,
                             .rank = rank,
                             .odd_version = !vid.empty() && !CanonicalNumber(vid, &numeric),
                             .has_members = has_members};
  if (panel_of != nullptr) {
    AddPanel(line, *panel_of);
  } else {
    AddMemberObservation(line, q);
  }
}

// A panel of `panel`: its hasMember ids are listed (never standalone items, whatever its
// status); when it counts, a candidate whose members are resolved at Finish().
void ScreeningCollector::AddPanel(const ObservationLine& line, const Instrument& panel) {
  const Value& r = line.r;
  const Top& top = line.top;
  const fhir::SourceLocation& where = line.where;
  const std::string_view id = line.id, status = line.status, patient = line.patient, vid = line.vid;
  const SubjectCheck& subject = line.subject;
  const VersionRank& rank = line.rank;
  const bool odd_version = line.odd_version, has_members = line.has_members;
  State& st = *state_;
  // Whatever the panel's status, what it lists is a member, never a standalone item. Listed
  // once: the candidate below takes these indexes.
  std::vector<uint32_t>& members = scratch_members_;
  members.clear();
  if (has_members) {
    for (const auto& m : top.has_member->GetArray()) {
      std::string_view mid = MemberId(m, options_.input);
      if (!mid.empty()) members.push_back(st.ListedObservationIndex(mid));
    }
  }
  auto tombstone = [&](const std::string& reason) {
    counts_.Ignore("Observation", "panel " + reason);
    auto [it, inserted] = st.obs_tombstones.try_emplace(std::string(id), rank);
    if (!inserted) it->second = std::max(it->second, rank);
    if (Wanted(patient) && !patient.empty()) {
      Trace("Observation/" + std::string(id), panel.id, "ignored", reason);
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
    Skip(where, "Observation", "invalid-id", "subject.reference: the Patient id is not a FHIR id");
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
  c.instrument = panel.index;
  c.when = *when;
  c.id = st.strings.Add(id);
  c.rank = rank;
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
}

namespace {

// dataAbsentReason asked-declined (http://terminology.hl7.org/CodeSystem/data-absent-reason).
bool AskedDeclined(const Value& r) {
  const Value* reason = json::Member(r, "dataAbsentReason");
  const Value* codings = reason != nullptr ? json::ArrayMember(*reason, "coding") : nullptr;
  if (codings == nullptr) return false;
  for (const auto& c : codings->GetArray()) {
    if (json::StrMember(c, "code") == "asked-declined" &&
        json::StrMember(c, "system") ==
            "http://terminology.hl7.org/CodeSystem/data-absent-reason") {
      return true;
    }
  }
  return false;
}

}  // namespace

// Not a panel, but a possible member that matters (a configured question, or hasMember): its
// 40-byte record, replaced by a newer version (with a possible standalone item's instant).
void ScreeningCollector::AddMemberObservation(const ObservationLine& line, CodeId q) {
  const Value& r = line.r;
  const Top& top = line.top;
  const fhir::SourceLocation& where = line.where;
  const std::string_view id = line.id, status = line.status, patient = line.patient, vid = line.vid;
  const SubjectCheck& subject = line.subject;
  const VersionRank& rank = line.rank;
  const bool odd_version = line.odd_version, has_members = line.has_members;
  State& st = *state_;
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
  } else if (AskedDeclined(r)) {
    rec.flags |= ObservationRecord::kDeclined;
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
      const uint8_t kSame = ObservationRecord::kValidStatus | ObservationRecord::kDeclined;
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
  if (when) rec.when = *when;
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
  // Each item with its current version's instant, in index order.
  for (uint32_t index = 0; index < st.observations.size(); ++index) {
    const ObservationRecord& o = st.observations[index];
    const fhir::InstantMicros when = o.when;
    if (when == ObservationRecord::kNoInstant) continue;
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

}  // namespace sdoh
