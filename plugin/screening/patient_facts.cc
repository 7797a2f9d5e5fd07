// The Patient reader of the screening collector (screening_collector.h): the facts the rules
// need (active, deceased, interpreter statement, preferred language, patient fhirpath outcomes)
// kept in fixed size per patient; a newer version replaces them, a conflicting one voids them.
#include "plugin/screening/screening_collector.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "fhir/json.h"
#include "plugin/screening/collector_state.h"
#include "plugin/screening/resource_scan.h"

namespace sdoh {

namespace json = fhir::json;
using rapidjson::Value;

namespace {

// At most `max` bytes of `s`, cut at a UTF-8 character boundary (never inside a character).
std::string_view Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) --max;
  return s.substr(0, max);
}

bool SameOutcomes(const std::vector<FhirpathOutcome>& a, const std::vector<FhirpathOutcome>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].index != b[i].index || a[i].value != b[i].value || a[i].detail != b[i].detail) {
      return false;
    }
  }
  return true;
}

// Issue 15 item 3: the postal code and language the service directory matches on.
void ReadDirectoryFacts(const Value& r, PatientFacts* f) {
  if (const Value* addrs = json::ArrayMember(r, "address")) {
    for (const auto& a : addrs->GetArray()) {
      if (!a.IsObject() || json::StrMember(a, "use") == "old") continue;
      std::string_view pc = json::StrMember(a, "postalCode");
      if (pc.empty()) continue;
      f->postal_code = std::string(Utf8Prefix(pc, 16));
      break;
    }
  }
  if (const Value* comms = json::ArrayMember(r, "communication")) {
    const Value* chosen = nullptr;
    for (const auto& c : comms->GetArray()) {
      if (!c.IsObject()) continue;
      if (chosen == nullptr) chosen = &c;
      if (json::IsTrue(c, "preferred")) {
        chosen = &c;
        break;
      }
    }
    const Value* lang = chosen ? json::Member(*chosen, "language") : nullptr;
    const Value* codings = lang && lang->IsObject() ? json::ArrayMember(*lang, "coding") : nullptr;
    if (codings != nullptr) {
      for (const auto& coding : codings->GetArray()) {
        if (!coding.IsObject()) continue;
        std::string_view tag = json::StrMember(coding, "code");
        if (tag.empty()) continue;
        f->communication_language = std::string(Utf8Prefix(tag, 35));
        break;
      }
    }
  }
}

}  // namespace

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
  if (options_.directory_facts) ReadDirectoryFacts(r, &f);
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
           !SameOutcomes(e.fhirpath, f.fhirpath) || e.postal_code != f.postal_code ||
           e.communication_language != f.communication_language;
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
      f.preferred_language_display.empty() && f.fhirpath.empty() && f.postal_code.empty() &&
      f.communication_language.empty()) {
    ps.extra = 0;
    return;
  }
  PatientExtra e{std::move(f.version_id),
                 std::move(f.preferred_language),
                 std::move(f.preferred_language_display),
                 std::move(f.fhirpath),
                 std::move(f.postal_code),
                 std::move(f.communication_language)};
  if (ps.extra != 0) {
    st.patient_extras[ps.extra - 1] = std::move(e);
  } else {
    st.patient_extras.push_back(std::move(e));
    ps.extra = static_cast<uint32_t>(st.patient_extras.size());
  }
}

}  // namespace sdoh
