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
  questionnaires_.Put(url, version, std::move(map));
  return true;
}

const Catalog::LinkMap* PassCatalog::FindQuestionnaire(std::string_view canonical) const {
  if (const Catalog::LinkMap* known = base_.FindQuestionnaire(canonical)) return known;
  return questionnaires_.Find(canonical);
}

}  // namespace sdoh
