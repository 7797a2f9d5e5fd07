// Interns code strings (LOINC question and answer codes) as small integers so screenings and
// compiled rules compare integers on the hot path. Ids are dense, starting at 1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "plugin/screening/interned_ids.h"

namespace sdoh {

using CodeId = uint32_t;
inline constexpr CodeId kNoCode = 0;
// An answer that is present but carries no LOINC coding (a number, a string, another system).
inline constexpr CodeId kNonLoincAnswer = 0xFFFFFFFFu;

class CodeTable {
 public:
  // The id of `code`, adding it when new.
  CodeId Intern(std::string_view code) {
    bool inserted = false;
    return table_.Intern(code, &inserted) + 1;
  }
  // The id of `code`, or kNoCode when unknown.
  CodeId Find(std::string_view code) const {
    uint32_t index = table_.Find(code);
    return index == IdTable::kNone ? kNoCode : index + 1;
  }
  std::string_view Name(CodeId id) const;
  // How many codes are interned (the highest id).
  uint32_t size() const { return static_cast<uint32_t>(table_.size()); }

 private:
  IdTable table_;  // index + 1 = CodeId
};

}  // namespace sdoh
