// A ResourceVisitor that forwards everything to `inner` except screenings dated at or after
// the end of the reporting period: QuestionnaireResponses by `authored`, Observation panels
// (a panel code of an instrument) by their effective time. The collector then applies
// "newest wins" as of the period's end, so a rescreen after the period cannot hide a
// screening made in it.
#pragma once

#include <string>
#include <string_view>

#include "fhir/datetime.h"
#include "fhir/store.h"
#include "plugin/setup/catalog.h"

namespace sdoh::report {

class PeriodEndFilter : public fhir::ResourceVisitor {
 public:
  // REQUIRES: catalog and inner outlive this.
  PeriodEndFilter(fhir::ResourceVisitor& inner, const Catalog& catalog, fhir::TimeZone tz,
                  fhir::InstantMicros end)
      : inner_(inner), catalog_(catalog), tz_(std::move(tz)), end_(end) {}

  void OnResource(std::string_view expected_type, const rapidjson::Value& resource,
                  const fhir::SourceLocation& where) override;
  void OnUnreadable(std::string_view expected_type, const fhir::SourceLocation& where,
                    std::string_view reason, const std::string& detail) override {
    inner_.OnUnreadable(expected_type, where, reason, detail);
  }

 private:
  bool AfterEnd(std::string_view when) const;

  fhir::ResourceVisitor& inner_;
  const Catalog& catalog_;
  fhir::TimeZone tz_;
  fhir::InstantMicros end_;
};

}  // namespace sdoh::report
