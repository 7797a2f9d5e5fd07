// The QuestionnaireResponse reader of the screening collector (screening_collector.h): the
// Questionnaires of the data (linkId maps, this pass only) and the responses, read into
// candidates of each instrument the form measures.
#include "plugin/screening/screening_collector.h"

#include <algorithm>
#include <string>

#include "fhir/json.h"
#include "plugin/screening/answer_value.h"
#include "plugin/screening/collector_state.h"
#include "plugin/screening/content_hash.h"
#include "plugin/screening/resource_scan.h"
#include "plugin/setup/questionnaire_links.h"

namespace sdoh {

namespace json = fhir::json;
using rapidjson::Value;

namespace {

bool ValidQrStatus(std::string_view s) { return s == "completed" || s == "amended"; }

}  // namespace

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

// What a QuestionnaireResponse line says besides its answers, once it is known to count.
struct ScreeningCollector::ResponseLine {
  std::string_view id;
  std::string_view vid;  // meta.versionId
  VersionRank rank;
  std::string_view canonical;
  fhir::InstantMicros authored = 0;
  std::string_view patient;
};

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

  if (!ReadAnswers(top.item, qmap, local_ids, where)) return;
  AddResponseCandidates(r, ResponseLine{id, vid, rank, canonical, *authored, patient}, *instruments,
                        where);
}

// The answers to configured questions in `items` (item, item.item, answer.item), into
// scratch_answers_ as (question, answer) pairs. A linkId is resolved by (a) the form's
// Questionnaire, (b) the form's local linkId map, (c) a LOINC-shaped last segment. Returns
// false, the line skipped as too-deep, when nesting exceeds max_item_depth.
bool ScreeningCollector::ReadAnswers(const Value* items, const Catalog::LinkMap* qmap,
                                     const StringMap<CodeId>* local_ids,
                                     const fhir::SourceLocation& where) {
  std::vector<Answer>& answers = scratch_answers_;
  answers.clear();
  PassCatalog& codes = pass_;
  // Iterative walk over item, item.item and answer.item at any depth.
  auto& stack = scratch_items_;
  stack.clear();
  if (items != nullptr && items->IsArray()) {
    for (const auto& item : items->GetArray()) stack.push_back({&item, 1});
  }
  while (!stack.empty()) {
    auto [item, depth] = stack.back();
    stack.pop_back();
    if (depth > options_.max_item_depth) {
      Skip(where, "QuestionnaireResponse", "too-deep",
           "item nesting deeper than " + std::to_string(options_.max_item_depth));
      return false;
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
  return true;
}

// One candidate per instrument the form measures, from scratch_answers_ (REQUIRES: ReadAnswers
// returned true for this line); of a form that measures several, each keeps its own questions.
void ScreeningCollector::AddResponseCandidates(const Value& r, const ResponseLine& line,
                                               const std::vector<InstrumentIndex>& instruments,
                                               const fhir::SourceLocation& where) {
  State& st = *state_;
  const std::vector<Answer>& answers = scratch_answers_;
  const size_t n = instruments.size();
  const std::string_view id = line.id, vid = line.vid, canonical = line.canonical;
  const VersionRank& rank = line.rank;
  const fhir::InstantMicros authored = line.authored;
  const uint32_t pidx = PatientIndex(line.patient);
  const std::string_view stored_id = st.strings.Add(id);
  int64_t numeric = 0;
  const bool odd_version = !vid.empty() && !CanonicalNumber(vid, &numeric);
  ContentHash base;
  base.Add(canonical);
  base.Add(authored);
  base.Add(vid);
  for (const Answer& a : answers) {
    base.Add(a.question);
    base.Add(a.answer);
  }
  for (size_t i = 0; i < n; ++i) {
    Candidate c;
    c.kind = ScreeningKind::kQuestionnaireResponse;
    c.when = authored;
    c.id = stored_id;
    c.rank = rank;
    c.instrument = instruments[i];
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

}  // namespace sdoh
