// The catalog as one pass or one CDS call sees it: the shared, immutable Catalog plus an
// overlay that this pass owns and that dies with it — answer codes interned on the way and
// Questionnaires that arrive with the data (a source folder, a server, a prefetch). Nothing a
// pass reads can change what another pass or call sees. Not thread-safe: one per pass or call.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugin/setup/catalog.h"
#include "plugin/setup/code_table.h"

namespace sdoh {

class PassCatalog {
 public:
  // REQUIRES: `base` outlives this object.
  explicit PassCatalog(const Catalog& base) : base_(base), offset_(base.codes().size()) {}

  const Catalog& base() const { return base_; }

  // The catalog's id of `code` when it knows it, else an id of this pass (above the catalog's).
  CodeId Intern(std::string_view code);
  CodeId Find(std::string_view code) const;
  std::string_view Name(CodeId id) const;

  // A Questionnaire from the data. When the catalog already defines the form — a Questionnaire
  // for the same url in mappings/questionnaires/, or a linkId map in its mappings/forms/ entry —
  // the catalog's definition wins: this one is not used (returns false), and it is counted as
  // a conflict when its linkId map differs.
  bool AddQuestionnaire(std::string_view url, std::string_view version, Catalog::LinkMap map);
  // The catalog's Questionnaire for `canonical` when it has one for that url, else this pass's
  // (exact version when known, else any version of the url); nullptr when none.
  const Catalog::LinkMap* FindQuestionnaire(std::string_view canonical) const;
  // Questionnaires from the data that conflicted with the catalog's (see AddQuestionnaire).
  uint64_t conflicts() const { return conflicts_; }

 private:
  const Catalog& base_;
  const uint32_t offset_;  // the catalog's highest code id
  CodeTable extra_;
  QuestionnaireIndex questionnaires_;
  uint64_t conflicts_ = 0;
};

}  // namespace sdoh
