#include "plugin/setup/code_table.h"

namespace sdoh {

std::string_view CodeTable::Name(CodeId id) const {
  if (id == kNonLoincAnswer) return "(not a LOINC coding)";
  return id != kNoCode && id <= table_.size() ? table_.Name(id - 1) : std::string_view();
}

}  // namespace sdoh
