// The one walk over a Questionnaire's items (item, item.item at any depth up to a limit): each
// linkId with the first LOINC code of its item (R4 QR items carry no code, so a QR's question
// is found through its Questionnaire — DESIGN "Screening semantics"). Used by the catalog for
// mappings/questionnaires/*.json and by a pass for Questionnaires that arrive with the data.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include <rapidjson/document.h>

#include "fhir/status.h"
#include "plugin/setup/catalog.h"

namespace sdoh {

// Fills `map` with linkId → intern(LOINC code). InvalidArgument (naming the depth) when items
// nest deeper than `max_depth`; `map` then holds what was read before.
fhir::Status QuestionnaireLinks(const rapidjson::Value& questionnaire, size_t max_depth,
                                const std::function<CodeId(std::string_view)>& intern,
                                Catalog::LinkMap* map);

}  // namespace sdoh
