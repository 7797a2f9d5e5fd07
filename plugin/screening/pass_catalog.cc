#include "plugin/screening/pass_catalog.h"

namespace sdoh {

CodeId PassCatalog::Intern(std::string_view code) {
  if (CodeId id = base_.codes().Find(code); id != kNoCode) return id;
  return offset_ + extra_.Intern(code);
}

CodeId PassCatalog::Find(std::string_view code) const {
  if (CodeId id = base_.codes().Find(code); id != kNoCode) return id;
  CodeId id = extra_.Find(code);
  return id == kNoCode ? kNoCode : offset_ + id;
}

std::string_view PassCatalog::Name(CodeId id) const {
  if (id == kNonLoincAnswer || id <= offset_) return base_.codes().Name(id);
  return extra_.Name(id - offset_);
}

bool PassCatalog::AddQuestionnaire(std::string_view url, std::string_view version,
                                   Catalog::LinkMap map) {
  if (url.empty()) return false;
  // The catalog's definition of the form: its Questionnaire (mappings/questionnaires/), else
  // the linkId map of its form mapping (mappings/forms/).
  const Catalog::LinkMap* known = base_.FindQuestionnaire(url);
  if (known == nullptr) {
    if (const Form* form = base_.FindForm(url); form != nullptr && !form->link_ids.empty()) {
      known = &form->link_ids;
    }
  }
  if (known != nullptr) {
    if (*known != map) ++conflicts_;
    return false;
  }
  auto& versions = questionnaires_[std::string(url)];
  for (auto& [v, m] : versions) {
    if (v == version) {
      m = std::move(map);
      return true;
    }
  }
  versions.emplace_back(std::string(version), std::move(map));
  return true;
}

const Catalog::LinkMap* PassCatalog::FindQuestionnaire(std::string_view canonical) const {
  if (const Catalog::LinkMap* known = base_.FindQuestionnaire(canonical)) return known;
  std::string_view url = StripCanonicalVersion(canonical);
  std::string_view version;
  if (url.size() < canonical.size()) version = canonical.substr(url.size() + 1);
  auto it = questionnaires_.find(url);
  if (it == questionnaires_.end() || it->second.empty()) return nullptr;
  for (const auto& [v, m] : it->second) {
    if (!version.empty() && v == version) return &m;
  }
  return &it->second.back().second;
}

}  // namespace sdoh
