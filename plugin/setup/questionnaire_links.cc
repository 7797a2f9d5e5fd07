#include "plugin/setup/questionnaire_links.h"

#include <string>
#include <utility>
#include <vector>

#include "fhir/json.h"

namespace sdoh {

fhir::Status QuestionnaireLinks(const rapidjson::Value& questionnaire, size_t max_depth,
                                const std::function<CodeId(std::string_view)>& intern,
                                Catalog::LinkMap* map) {
  std::vector<std::pair<const rapidjson::Value*, size_t>> stack{{&questionnaire, 0}};
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (depth > max_depth) {
      return fhir::Status::InvalidArgument("item nesting deeper than " + std::to_string(max_depth));
    }
    const rapidjson::Value* items = fhir::json::ArrayMember(*v, "item");
    if (items == nullptr) continue;
    for (const auto& item : items->GetArray()) {
      std::string_view link = fhir::json::StrMember(item, "linkId");
      // Questionnaire.item.code is an array of Coding (not a CodeableConcept).
      if (const rapidjson::Value* codes = fhir::json::ArrayMember(item, "code");
          codes != nullptr && !link.empty()) {
        for (const auto& c : codes->GetArray()) {
          std::string_view code = fhir::json::StrMember(c, "code");
          if (fhir::json::StrMember(c, "system") == "http://loinc.org" && !code.empty()) {
            map->emplace(std::string(link), intern(code));
            break;
          }
        }
      }
      stack.push_back({&item, depth + 1});
    }
  }
  return fhir::Status::Ok();
}

}  // namespace sdoh
