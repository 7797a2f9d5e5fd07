#include "plugin/report/period_end_filter.h"

#include "fhir/json.h"

namespace sdoh::report {

namespace json = fhir::json;

bool PeriodEndFilter::AfterEnd(std::string_view when) const {
  if (when.empty()) return false;
  auto t = fhir::ParseFhirDateTime(when, tz_);
  return t.has_value() && *t >= end_;
}

void PeriodEndFilter::OnResource(std::string_view expected_type, const rapidjson::Value& r,
                                 const fhir::SourceLocation& where) {
  const std::string_view type = json::StrMember(r, "resourceType");
  if (type == "QuestionnaireResponse" && AfterEnd(json::StrMember(r, "authored"))) return;
  if (type == "Observation") {
    bool panel = false;
    if (const rapidjson::Value* code = json::Member(r, "code"); code != nullptr) {
      if (const rapidjson::Value* codings = json::ArrayMember(*code, "coding")) {
        for (const auto& c : codings->GetArray()) {
          if (c.IsObject() && catalog_.InstrumentForPanel(json::StrMember(c, "code")) != nullptr) {
            panel = true;
          }
        }
      }
    }
    if (panel) {
      std::string_view when = json::StrMember(r, "effectiveDateTime");
      if (when.empty()) when = json::StrMember(r, "effectiveInstant");
      if (when.empty()) {
        if (const rapidjson::Value* p = json::Member(r, "effectivePeriod"); p != nullptr) {
          when = json::StrMember(*p, "start");
        }
      }
      if (AfterEnd(when)) return;
    }
  }
  inner_.OnResource(expected_type, r, where);
}

}  // namespace sdoh::report
