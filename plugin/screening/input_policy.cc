#include "plugin/screening/input_policy.h"

#include <algorithm>

#include "fhir/resource_id.h"

namespace sdoh {

void InputPolicy::AddLocalBase(std::string_view base) {
  if (base.find("://") == std::string_view::npos) return;
  std::string b = fhir::NormalizeBase(base);
  if (std::find(local_bases.begin(), local_bases.end(), b) == local_bases.end()) {
    local_bases.push_back(std::move(b));
  }
}

InputPolicy InputPolicyFor(const Config& config, fhir::InstantMicros now) {
  InputPolicy p;
  if (IsServerSource(config.source)) p.AddLocalBase(config.source);
  for (const std::string& alias : config.source_aliases) p.AddLocalBase(alias);
  constexpr fhir::InstantMicros kHour = 3600LL * 1000000LL;
  p.latest_date = now + static_cast<fhir::InstantMicros>(config.future_skew_hours) * kHour;
  return p;
}

SubjectCheck CheckSubject(std::string_view reference, const InputPolicy& policy) {
  SubjectCheck c;
  const fhir::TypedReference r = fhir::SplitReference(reference, "Patient");
  if (r.shape == fhir::TypedReference::Shape::kNone) return c;
  if (!fhir::IsValidId(r.id)) {
    c.kind = SubjectCheck::Kind::kInvalid;
    return c;
  }
  if (r.shape == fhir::TypedReference::Shape::kAbsolute) {
    const std::string base = fhir::NormalizeBase(r.base);
    if (std::find(policy.local_bases.begin(), policy.local_bases.end(), base) ==
        policy.local_bases.end()) {
      c.kind = SubjectCheck::Kind::kForeign;
      return c;
    }
  }
  c.kind = SubjectCheck::Kind::kLocal;
  c.id = r.id;
  return c;
}

}  // namespace sdoh
