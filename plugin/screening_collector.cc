#include "plugin/screening_collector.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "fhir/json.h"

namespace sdoh {

namespace json = fhir::json;
using rapidjson::Value;

namespace {

constexpr std::string_view kLoinc = "http://loinc.org";

bool ValidQrStatus(std::string_view s) { return s == "completed" || s == "amended"; }
bool ValidObsStatus(std::string_view s) {
  return s == "final" || s == "amended" || s == "corrected";
}

// Status values go into summaries; anything outside the FHIR code list is reported generically
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

VersionRank RankOf(const Value& r, uint64_t seq, const fhir::TimeZone& tz, std::string* vid) {
  VersionRank rank;
  rank.seq = seq;
  if (const Value* meta = json::Member(r, "meta")) {
    std::string_view v = json::StrMember(*meta, "versionId");
    if (vid) *vid = std::string(v);
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && p == v.data() + v.size() && !v.empty()) rank.version = n;
    if (auto t = fhir::ParseFhirDateTime(json::StrMember(*meta, "lastUpdated"), tz)) {
      rank.last_updated = *t;
    }
  }
  return rank;
}

// The patient id of `subject`, or empty.
std::string_view SubjectPatient(const Value& r) {
  const Value* subject = json::Member(r, "subject");
  if (subject == nullptr) return {};
  return json::ReferenceId(json::StrMember(*subject, "reference"), "Patient");
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

// A stored non-panel Observation: what a panel needs from its members.
struct ObservationRecord {
  std::string subject;
  CodeId question = kNoCode;
  bool valid_status = false;
  bool used = false;
  std::vector<CodeId> answers;
  std::vector<std::string> members;
  std::string version_id;
  VersionRank rank;
};

struct PatientState {
  PatientFacts facts;
  std::vector<Screening> candidates;
};

struct ScreeningCollector::State {
  std::unordered_map<std::string, PatientState> patients;
  std::unordered_map<std::string, ObservationRecord> observations;
  // Highest rank of a non-counting version per "Type/id": retracts lower counted versions.
  std::unordered_map<std::string, VersionRank> tombstones;
};

ScreeningCollector::ScreeningCollector(Catalog& catalog, ScreeningOptions options)
    : catalog_(catalog), options_(std::move(options)), state_(std::make_unique<State>()) {}

ScreeningCollector::~ScreeningCollector() = default;

const std::vector<std::string>& ScreeningCollector::InputTypes() {
  static const std::vector<std::string> kTypes = {"Questionnaire", "Patient",
                                                  "QuestionnaireResponse", "Observation"};
  return kTypes;
}

void ScreeningCollector::Skip(const fhir::SourceLocation& where, std::string_view type,
                              std::string reason, std::string detail) {
  std::string w = std::string(where.origin) + ":" + std::to_string(where.position);
  counts_.Skip({w, reason, std::string(type) + ": " + detail});
  if (!options_.only_patient.empty()) return;  // explain: cannot attribute to a patient
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
  ++counts_.read[std::string(expected_type)];
  ++seq_;
  if (!resource.IsObject()) {
    Skip(where, expected_type, "not-an-object", "the line is JSON but not an object");
    return;
  }
  std::string_view type = json::StrMember(resource, "resourceType");
  if (type != expected_type) {
    Skip(where, expected_type, "wrong-resource-type",
         type.empty() ? "resourceType missing"
                      : "resourceType is '" + std::string(type.substr(0, 64)) + "', expected " +
                            std::string(expected_type));
    return;
  }
  if (json::StrMember(resource, "id").empty()) {
    Skip(where, expected_type, "missing-id", "id missing or not a string");
    return;
  }
  if (type == "Patient") {
    AddPatient(resource, where);
  } else if (type == "QuestionnaireResponse") {
    AddQuestionnaireResponse(resource, where);
  } else if (type == "Observation") {
    AddObservation(resource, where);
  } else if (type == "Questionnaire") {
    AddQuestionnaire(resource, where);
  } else {
    counts_.Ignore(std::string(type), "type not read");
  }
}

void ScreeningCollector::AddQuestionnaire(const Value& r, const fhir::SourceLocation& where) {
  std::string_view url = json::StrMember(r, "url");
  if (url.empty() || catalog_.FindForm(url) == nullptr) {
    counts_.Ignore("Questionnaire", url.empty() ? "no url" : "form not mapped to an instrument");
    return;
  }
  Catalog::LinkMap map;
  std::vector<std::pair<const Value*, size_t>> stack{{&r, 0}};
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (depth > options_.max_item_depth) {
      Skip(where, "Questionnaire", "too-deep",
           "item nesting deeper than " + std::to_string(options_.max_item_depth));
      return;
    }
    const Value* items = json::ArrayMember(*v, "item");
    if (items == nullptr) continue;
    for (const auto& item : items->GetArray()) {
      std::string_view link = json::StrMember(item, "linkId");
      std::string_view code;
      // Questionnaire.item.code is an array of Coding (not a CodeableConcept).
      if (const Value* codes = json::ArrayMember(item, "code")) {
        for (const auto& c : codes->GetArray()) {
          if (json::StrMember(c, "system") == kLoinc && !json::StrMember(c, "code").empty()) {
            code = json::StrMember(c, "code");
            break;
          }
        }
      }
      if (!link.empty() && !code.empty())
        map.emplace(std::string(link), catalog_.codes().Intern(code));
      stack.push_back({&item, depth + 1});
    }
  }
  catalog_.AddQuestionnaire(url, json::StrMember(r, "version"), std::move(map));
}

void ScreeningCollector::AddPatient(const Value& r, const fhir::SourceLocation& where) {
  (void)where;
  std::string_view id = json::StrMember(r, "id");
  if (!Wanted(id)) return;
  PatientFacts f;
  f.present = true;
  f.rank = RankOf(r, seq_, options_.time_zone, &f.version_id);
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
          f.preferred_language = std::string(tag.substr(0, 35));
          f.preferred_language_display =
              std::string(json::StrMember(coding, "display").substr(0, 64));
        }
      }
    }
  }
  PatientState& st = state_->patients[std::string(id)];
  if (st.facts.present) {
    counts_.Ignore("Patient", "older version of a patient read twice");
    if (f.rank < st.facts.rank) return;
  }
  st.facts = std::move(f);
  Trace("Patient/" + std::string(id), "patient", "read", "");
}

void ScreeningCollector::AddQuestionnaireResponse(const Value& r,
                                                  const fhir::SourceLocation& where) {
  std::string_view id = json::StrMember(r, "id");
  std::string ref = "QuestionnaireResponse/" + std::string(id);
  std::string version_id;
  VersionRank rank = RankOf(r, seq_, options_.time_zone, &version_id);
  std::string_view patient = SubjectPatient(r);
  auto tombstone = [&](const std::string& reason) {
    counts_.Ignore("QuestionnaireResponse", reason);
    VersionRank& t = state_->tombstones[ref];
    t = std::max(t, rank);
    if (Wanted(patient) && !patient.empty()) Trace(ref, "", "ignored", reason);
  };
  std::string_view status = json::StrMember(r, "status");
  if (!ValidQrStatus(status)) return tombstone(StatusToken(status));
  std::string_view canonical = json::StrMember(r, "questionnaire");
  const Form* form = canonical.empty() ? nullptr : catalog_.FindForm(canonical);
  if (form == nullptr) return tombstone("form not mapped to an instrument");
  const Value* authored_v = json::Member(r, "authored");
  if (authored_v == nullptr) return tombstone("authored missing");
  auto authored = fhir::ParseFhirDateTime(json::Str(authored_v), options_.time_zone);
  if (!authored) {
    Skip(where, "QuestionnaireResponse", "invalid-date", "authored is not a valid dateTime");
    return;
  }
  if (patient.empty()) {
    Skip(where, "QuestionnaireResponse", "missing-subject",
         "subject.reference does not name a Patient");
    return;
  }
  if (!Wanted(patient)) return;

  const Catalog::LinkMap* qmap = catalog_.FindQuestionnaire(canonical);
  std::vector<Screening> per_instrument(form->instruments.size());
  for (size_t i = 0; i < form->instruments.size(); ++i) {
    Screening& s = per_instrument[i];
    s.kind = ScreeningKind::kQuestionnaireResponse;
    s.instrument = form->instruments[i];
    s.when = *authored;
    s.id = std::string(id);
    s.version_id = version_id;
    s.rank = rank;
    s.sources.push_back(ref);
    s.source_versions.push_back(version_id);
  }
  CodeTable& codes = catalog_.codes();
  // Iterative walk over item, item.item and answer.item at any depth.
  std::vector<std::pair<const Value*, size_t>> stack{{&r, 0}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (depth > options_.max_item_depth) {
      Skip(where, "QuestionnaireResponse", "too-deep",
           "item nesting deeper than " + std::to_string(options_.max_item_depth));
      return;
    }
    const Value* items = json::ArrayMember(*node, "item");
    if (items == nullptr) continue;
    for (const auto& item : items->GetArray()) {
      std::string_view link = json::StrMember(item, "linkId");
      CodeId q = kNoCode;
      if (qmap != nullptr) {  // (a) the form's Questionnaire
        auto it = qmap->find(std::string(link));
        if (it != qmap->end()) q = it->second;
      }
      if (q == kNoCode) {  // (b) the local linkId map
        auto it = form->link_ids.find(std::string(link));
        if (it != form->link_ids.end()) q = it->second;
      }
      if (q == kNoCode) {  // (c) a LOINC-shaped last segment
        std::string_view last =
            link.substr(link.rfind('/') == std::string_view::npos ? 0 : link.rfind('/') + 1);
        if (IsLoincShaped(last)) q = codes.Find(last);
      }
      const Value* answers = json::ArrayMember(item, "answer");
      if (answers != nullptr) {
        for (const auto& a : answers->GetArray()) {
          if (q != kNoCode && catalog_.IsQuestion(q)) {
            CodeId code = kNonLoincAnswer;
            if (const Value* vc = json::Member(a, "valueCoding")) {
              if (json::StrMember(*vc, "system") == kLoinc &&
                  !json::StrMember(*vc, "code").empty()) {
                code = codes.Intern(json::StrMember(*vc, "code"));
              }
            }
            for (Screening& s : per_instrument) {
              if (catalog_.HasQuestion(s.instrument, q)) s.answers.push_back({q, code, 0});
            }
          }
          if (json::ArrayMember(a, "item") != nullptr) stack.push_back({&a, depth + 1});
        }
      }
      stack.push_back({&item, depth + 1});
    }
  }
  PatientState& st = state_->patients[std::string(patient)];
  for (Screening& s : per_instrument) st.candidates.push_back(std::move(s));
}

void ScreeningCollector::AddObservation(const Value& r, const fhir::SourceLocation& where) {
  std::string_view id = json::StrMember(r, "id");
  std::string ref = "Observation/" + std::string(id);
  const Value* code = json::Member(r, "code");
  const Instrument* panel_of = nullptr;
  FindLoinc(code, [&](std::string_view c) {
    panel_of = catalog_.InstrumentForPanel(c);
    return panel_of != nullptr;
  });
  std::string_view status = json::StrMember(r, "status");
  std::string_view patient = SubjectPatient(r);
  std::string version_id;
  VersionRank rank = RankOf(r, seq_, options_.time_zone, &version_id);
  const Value* members = json::ArrayMember(r, "hasMember");

  if (panel_of != nullptr) {
    auto tombstone = [&](const std::string& reason) {
      counts_.Ignore("Observation", "panel " + reason);
      VersionRank& t = state_->tombstones[ref];
      t = std::max(t, rank);
      if (Wanted(patient) && !patient.empty()) Trace(ref, panel_of->id, "ignored", reason);
    };
    if (!ValidObsStatus(status)) return tombstone(StatusToken(status));
    std::string_view eff = json::StrMember(r, "effectiveDateTime");
    if (eff.empty()) {
      if (const Value* period = json::Member(r, "effectivePeriod"))
        eff = json::StrMember(*period, "start");
    }
    if (eff.empty()) return tombstone("effective[x] missing");
    auto when = fhir::ParseFhirDateTime(eff, options_.time_zone);
    if (!when) {
      Skip(where, "Observation", "invalid-date", "effective is not a valid dateTime");
      return;
    }
    if (patient.empty()) {
      Skip(where, "Observation", "missing-subject", "subject.reference does not name a Patient");
      return;
    }
    if (!Wanted(patient)) return;
    Screening s;
    s.kind = ScreeningKind::kObservationPanel;
    s.instrument = panel_of->index;
    s.when = *when;
    s.id = std::string(id);
    s.version_id = version_id;
    s.rank = rank;
    s.sources.push_back(ref);
    s.source_versions.push_back(version_id);
    if (members != nullptr) {
      for (const auto& m : members->GetArray()) {
        std::string_view mid = json::ReferenceId(json::StrMember(m, "reference"), "Observation");
        if (!mid.empty()) s.member_ids.emplace_back(mid);
      }
    }
    state_->patients[std::string(patient)].candidates.push_back(std::move(s));
    return;
  }

  // Not a panel: keep it only if it can be a member that matters.
  CodeId q = kNoCode;
  FindLoinc(code, [&](std::string_view c) {
    CodeId id = catalog_.codes().Find(c);
    if (id != kNoCode && catalog_.IsQuestion(id)) q = id;
    return q != kNoCode;
  });
  if (q == kNoCode && members == nullptr) {
    counts_.Ignore("Observation", "not a screening observation");
    return;
  }
  if (!Wanted(patient)) return;
  ObservationRecord rec;
  rec.subject = std::string(patient);
  rec.question = q;
  rec.valid_status = ValidObsStatus(status);
  rec.version_id = version_id;
  rec.rank = rank;
  if (const Value* vcc = json::Member(r, "valueCodeableConcept")) {
    bool any = false;
    if (const Value* codings = json::ArrayMember(*vcc, "coding")) {
      for (const auto& c : codings->GetArray()) {
        if (json::StrMember(c, "system") == kLoinc && !json::StrMember(c, "code").empty()) {
          rec.answers.push_back(catalog_.codes().Intern(json::StrMember(c, "code")));
          any = true;
        }
      }
    }
    if (!any) rec.answers.push_back(kNonLoincAnswer);
  } else {
    for (const char* k :
         {"valueQuantity", "valueString", "valueBoolean", "valueInteger", "valueRange",
          "valueRatio", "valueTime", "valueDateTime", "valuePeriod", "valueSampledData"}) {
      if (json::Member(r, k) != nullptr) {
        rec.answers.push_back(kNonLoincAnswer);
        break;
      }
    }
  }
  if (members != nullptr) {
    for (const auto& m : members->GetArray()) {
      std::string_view mid = json::ReferenceId(json::StrMember(m, "reference"), "Observation");
      if (!mid.empty()) rec.members.emplace_back(mid);
    }
  }
  auto [it, inserted] = state_->observations.try_emplace(std::string(id), std::move(rec));
  if (!inserted) {
    counts_.Ignore("Observation", "older version read twice");
    if (it->second.rank < rec.rank) it->second = std::move(rec);
  }
}

void ScreeningCollector::Finish(const std::function<void(PatientRecord&)>& fn) {
  State& st = *state_;
  std::vector<std::string> ids;
  ids.reserve(st.patients.size());
  for (const auto& [id, p] : st.patients) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  const auto& instruments = catalog_.instruments();

  for (const std::string& pid : ids) {
    PatientState& ps = st.patients[pid];
    PatientRecord rec;
    rec.id = pid;
    rec.facts = ps.facts;
    auto& cands = ps.candidates;
    // 1. Versions: a newer non-counting version retracts; of one id keep the highest rank.
    std::vector<bool> drop(cands.size(), false);
    for (size_t i = 0; i < cands.size(); ++i) {
      auto t = st.tombstones.find(cands[i].Reference());
      if (t != st.tombstones.end() && cands[i].rank < t->second) {
        drop[i] = true;
        counts_.Ignore(cands[i].TypeName(), "retracted by a newer version");
        Trace(cands[i].Reference(), instruments[cands[i].instrument].id, "ignored",
              "retracted by a newer version (entered-in-error or no longer counting)");
      }
    }
    for (size_t i = 0; i < cands.size(); ++i) {
      for (size_t j = 0; j < cands.size(); ++j) {
        if (i == j || drop[i] || drop[j]) continue;
        if (cands[i].instrument == cands[j].instrument && cands[i].kind == cands[j].kind &&
            cands[i].id == cands[j].id && cands[i].rank < cands[j].rank) {
          drop[i] = true;
          counts_.Ignore(cands[i].TypeName(), "older version of the same screening");
        }
      }
    }
    // 2. Newest wins per instrument: latest instant, then greater id byte-wise.
    std::vector<int> best(instruments.size(), -1);
    for (size_t i = 0; i < cands.size(); ++i) {
      if (drop[i]) continue;
      int& b = best[cands[i].instrument];
      if (b < 0 || std::tie(cands[b].when, cands[b].id) < std::tie(cands[i].when, cands[i].id)) {
        b = static_cast<int>(i);
      }
    }
    for (size_t i = 0; i < cands.size(); ++i) {
      if (drop[i] || best[cands[i].instrument] == static_cast<int>(i)) continue;
      counts_.Ignore(cands[i].TypeName(), "superseded by a newer screening");
      if (!options_.only_patient.empty()) {
        trace_.push_back({cands[i].Reference(), instruments[cands[i].instrument].id, "superseded",
                          "a newer screening of this instrument counts", cands[i].when, true});
      }
    }
    // 3. Resolve panel members of the winners.
    for (size_t k = 0; k < instruments.size(); ++k) {
      if (best[k] < 0) continue;
      Screening s = std::move(cands[best[k]]);
      if (s.kind == ScreeningKind::kObservationPanel) {
        std::vector<std::pair<std::string, size_t>> queue;
        for (auto& m : s.member_ids) queue.push_back({m, 1});
        std::unordered_set<std::string> seen;
        while (!queue.empty()) {
          auto [mid, depth] = std::move(queue.back());
          queue.pop_back();
          if (!seen.insert(mid).second || depth > options_.max_member_depth) continue;
          auto it = st.observations.find(mid);
          std::string mref = "Observation/" + mid;
          if (it == st.observations.end()) {
            Trace(mref, instruments[k].id, "ignored", "member not found in the source");
            continue;
          }
          ObservationRecord& m = it->second;
          if (!m.valid_status) {
            Trace(mref, instruments[k].id, "ignored", "member status does not count");
            continue;
          }
          if (m.subject != pid) {
            Trace(mref, instruments[k].id, "ignored", "member belongs to another subject");
            continue;
          }
          if (!m.used) {
            m.used = true;
            ++counts_.member_observations;
          }
          if (m.question != kNoCode && catalog_.HasQuestion(s.instrument, m.question) &&
              !m.answers.empty()) {
            uint32_t src = static_cast<uint32_t>(s.sources.size());
            s.sources.push_back(mref);
            s.source_versions.push_back(m.version_id);
            for (CodeId a : m.answers) s.answers.push_back({m.question, a, src});
          }
          Trace(mref, instruments[k].id, "member", "");
          for (const auto& next : m.members) queue.push_back({next, depth + 1});
        }
        s.member_ids.clear();
        s.member_ids.shrink_to_fit();
      }
      ++counts_.screenings_counted;
      if (!options_.only_patient.empty()) {
        trace_.push_back({s.Reference(), instruments[k].id, "counted",
                          "newest counted screening of this instrument", s.when, true});
      }
      rec.counted.push_back(std::move(s));
    }
    ps.candidates.clear();
    ps.candidates.shrink_to_fit();
    fn(rec);
  }
  for (const auto& [id, o] : st.observations) {
    if (!o.used) counts_.Ignore("Observation", "not reached by a counted panel");
  }
}

}  // namespace sdoh
