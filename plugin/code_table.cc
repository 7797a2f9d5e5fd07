#include "plugin/code_table.h"

namespace sdoh {

CodeId CodeTable::Intern(std::string_view code) {
  auto it = ids_.find(code);
  if (it != ids_.end()) return it->second;
  CodeId id = static_cast<CodeId>(names_.size());
  names_.emplace_back(code);
  ids_.emplace(std::string(code), id);
  return id;
}

CodeId CodeTable::Find(std::string_view code) const {
  auto it = ids_.find(code);
  return it == ids_.end() ? kNoCode : it->second;
}

std::string_view CodeTable::Name(CodeId id) const {
  if (id == kNonLoincAnswer) return "(not a LOINC coding)";
  return id < names_.size() ? std::string_view(names_[id]) : std::string_view();
}

}  // namespace sdoh
