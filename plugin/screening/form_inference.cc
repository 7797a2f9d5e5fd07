#include "plugin/screening/form_inference.h"

#include <algorithm>
#include <utility>

#include "fhir/json.h"

namespace sdoh {

namespace json = fhir::json;

namespace {

constexpr std::string_view kNoQuestionnaire = "(no questionnaire)";

std::string_view LastSegment(std::string_view link) {
  size_t slash = link.rfind('/');
  return slash == std::string_view::npos ? link : link.substr(slash + 1);
}

// Calls fn(linkId) for every item at any depth (item.item and answer.item), up to a bound.
template <typename Fn>
void ForEachLinkId(const rapidjson::Value* items, Fn fn) {
  if (items == nullptr || !items->IsArray()) return;
  std::vector<std::pair<const rapidjson::Value*, size_t>> stack;
  for (const auto& item : items->GetArray()) stack.push_back({&item, 1});
  size_t visited = 0;
  while (!stack.empty() && ++visited < 100000) {
    auto [item, depth] = stack.back();
    stack.pop_back();
    if (!item->IsObject() || depth > 32) continue;
    std::string_view link = json::StrMember(*item, "linkId");
    if (!link.empty()) fn(link);
    if (const rapidjson::Value* children = json::ArrayMember(*item, "item")) {
      for (const auto& child : children->GetArray()) stack.push_back({&child, depth + 1});
    }
    if (const rapidjson::Value* answers = json::ArrayMember(*item, "answer")) {
      for (const auto& a : answers->GetArray()) {
        if (!a.IsObject()) continue;
        if (const rapidjson::Value* sub = json::ArrayMember(a, "item")) {
          for (const auto& child : sub->GetArray()) stack.push_back({&child, depth + 1});
        }
      }
    }
  }
}

}  // namespace

const char* FormStatusName(FormStatus s) {
  switch (s) {
    case FormStatus::kMapped:
      return "mapped";
    case FormStatus::kNotScreening:
      return "not-a-screening";
    case FormStatus::kInferred:
      return "inferred";
    case FormStatus::kUnmapped:
      return "unmapped";
  }
  return "?";
}

std::vector<InstrumentIndex> FormInference::CoverQuestions(const Catalog& catalog,
                                                           const std::vector<CodeId>& questions) {
  std::vector<CodeId> open = questions;
  std::sort(open.begin(), open.end());
  open.erase(std::unique(open.begin(), open.end()), open.end());
  std::vector<InstrumentIndex> chosen;
  const auto& instruments = catalog.instruments();
  while (!open.empty()) {
    int best = -1;
    size_t best_cover = 0;
    for (const Instrument& ins : instruments) {
      if (std::find(chosen.begin(), chosen.end(), ins.index) != chosen.end()) continue;
      size_t cover = 0;
      for (CodeId q : open) cover += catalog.HasQuestion(ins.index, q) ? 1 : 0;
      if (cover == 0) continue;
      if (best < 0 || cover > best_cover ||
          (cover == best_cover && ins.questions.size() < instruments[best].questions.size())) {
        best = ins.index;
        best_cover = cover;
      }
    }
    if (best < 0) break;
    chosen.push_back(static_cast<InstrumentIndex>(best));
    open.erase(std::remove_if(open.begin(), open.end(),
                              [&](CodeId q) {
                                return catalog.HasQuestion(static_cast<InstrumentIndex>(best), q);
                              }),
               open.end());
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

void FormInference::AddQuestionnaire(std::string_view url, Catalog::LinkMap questions) {
  std::string key(StripCanonicalVersion(url));
  by_questionnaire_.erase(key);
  questionnaires_[key] = std::move(questions);
}

FormSeen& FormInference::Seen(std::string_view canonical) {
  std::string_view key = canonical.empty() ? kNoQuestionnaire : StripCanonicalVersion(canonical);
  auto it = seen_.find(key);  // no temporary string: one per response read was an allocation
  if (it == seen_.end()) it = seen_.emplace(std::string(key), FormSeen{}).first;
  return it->second;
}

void FormInference::CountMapped(std::string_view canonical, const Form& form) {
  FormSeen& f = Seen(canonical);
  ++f.responses;
  f.status = form.instruments.empty() ? FormStatus::kNotScreening : FormStatus::kMapped;
  f.instruments = form.instruments;
}

void FormInference::NoteLinkIds(FormSeen& f, const rapidjson::Value* items,
                                const Catalog::LinkMap* map) {
  ForEachLinkId(items, [&](std::string_view link) {
    if (f.link_ids.size() >= FormSeen::kMaxLinkIds) return;
    std::string code;
    if (map != nullptr) {
      auto it = map->find(link);
      if (it != map->end()) code = std::string(catalog_.codes().Name(it->second));
    } else if (IsLoincShaped(LastSegment(link))) {
      CodeId q = catalog_.codes().Find(LastSegment(link));
      if (q != kNoCode && catalog_.IsQuestion(q)) code = std::string(LastSegment(link));
    }
    auto [it, inserted] = f.link_ids.emplace(std::string(link), code);
    if (!inserted && it->second.empty()) it->second = code;
  });
}

const FormInference::Inferred* FormInference::Infer(std::string_view canonical,
                                                    const rapidjson::Value* items) {
  FormSeen& f = Seen(canonical);
  ++f.responses;
  const Inferred* inferred = InferFor(f, canonical, items);
  if (inferred == nullptr) ++f.dropped;
  return inferred;
}

const FormInference::Inferred* FormInference::InferFor(FormSeen& f, std::string_view canonical,
                                                       const rapidjson::Value* items) {
  // (1) The form's Questionnaire: read in this pass, else shipped in mappings/questionnaires/.
  const Catalog::LinkMap* qmap = nullptr;
  if (!canonical.empty()) {
    auto q = questionnaires_.find(StripCanonicalVersion(canonical));
    qmap = q != questionnaires_.end() ? &q->second : catalog_.FindQuestionnaire(canonical);
  }
  f.questionnaire = qmap != nullptr;
  if (f.link_ids.size() < FormSeen::kMaxLinkIds) NoteLinkIds(f, items, qmap);
  if (!enabled_) return nullptr;
  if (qmap != nullptr) {
    std::string key(StripCanonicalVersion(canonical));
    auto cached = by_questionnaire_.find(key);
    if (cached == by_questionnaire_.end()) {
      Inferred inf;
      std::vector<CodeId> questions;
      for (const auto& [link, code] : *qmap) {
        if (!catalog_.IsQuestion(code)) continue;
        questions.push_back(code);
        inf.link_ids.emplace(link, code);
      }
      inf.instruments = CoverQuestions(catalog_, questions);
      inf.by = "its Questionnaire's item codes";
      cached = by_questionnaire_.emplace(std::move(key), std::move(inf)).first;
    }
    if (cached->second.instruments.empty()) return nullptr;
    f.status = FormStatus::kInferred;
    f.instruments = cached->second.instruments;
    f.inferred_by = cached->second.by;
    return &cached->second;
  }
  // (2) No Questionnaire: the QR's own LOINC-shaped linkIds.
  std::vector<CodeId> questions;
  ForEachLinkId(items, [&](std::string_view link) {
    std::string_view last = LastSegment(link);
    if (!IsLoincShaped(last)) return;
    CodeId q = catalog_.codes().Find(last);
    if (q != kNoCode && catalog_.IsQuestion(q)) questions.push_back(q);
  });
  scratch_.instruments = CoverQuestions(catalog_, questions);
  scratch_.link_ids.clear();
  scratch_.by = "its LOINC-shaped linkIds";
  if (scratch_.instruments.empty()) return nullptr;
  // The form's status is inferred once any of its responses could be read.
  f.status = FormStatus::kInferred;
  f.inferred_by = scratch_.by;
  for (InstrumentIndex i : scratch_.instruments) {
    if (std::find(f.instruments.begin(), f.instruments.end(), i) == f.instruments.end()) {
      f.instruments.push_back(i);
    }
  }
  std::sort(f.instruments.begin(), f.instruments.end());
  return &scratch_;
}

uint64_t FormInference::DroppedResponses() const {
  uint64_t n = 0;
  for (const auto& [canonical, f] : seen_) n += f.dropped;
  return n;
}

}  // namespace sdoh
