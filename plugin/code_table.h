// Interns code strings (LOINC question and answer codes) as small integers so screenings and
// compiled rules compare integers on the hot path. Ids are dense, starting at 1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sdoh {

using CodeId = uint32_t;
inline constexpr CodeId kNoCode = 0;
// An answer that is present but carries no LOINC coding (a number, a string, another system).
inline constexpr CodeId kNonLoincAnswer = 0xFFFFFFFFu;

class CodeTable {
 public:
  CodeTable() { names_.emplace_back(); }
  // The id of `code`, adding it when new.
  CodeId Intern(std::string_view code);
  // The id of `code`, or kNoCode when unknown.
  CodeId Find(std::string_view code) const;
  std::string_view Name(CodeId id) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, CodeId, Hash, std::equal_to<>> ids_;
  std::vector<std::string> names_;
};

}  // namespace sdoh
