// The referral stage (pure): a need flag and the patient's facts in, the resources to write
// out — SDOHCC ServiceRequest, Task for referral management, chart Flag — each with a
// deterministic business identifier (plugin/referrals/identifiers.h) so a retry or a rerun
// never makes a second one, and the rule-set tag.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/rules/rules_engine.h"
#include "plugin/screening/screening.h"
#include "plugin/setup/catalog.h"
#include "plugin/setup/config.h"

namespace sdoh {

struct PlannedResource {
  std::string type;        // ServiceRequest | Task | Flag
  std::string identifier;  // business identifier value (system: Config::identifier_system)
  std::string json;        // the resource, compact JSON
};

struct ReferralPlan {
  std::string patient_id;
  std::string need;
  std::string route;
  std::string not_planned;  // non-empty: why no resources (deceased, inactive, route none...)
  std::vector<PlannedResource> resources;
};

struct ReferralFragments;

struct PlanContext {
  const Catalog* catalog = nullptr;
  const Config* config = nullptr;
  std::string ruleset_id;
  std::string ruleset_version;
  fhir::InstantMicros now = 0;  // authoredOn
  // The JSON of the parts of a referral that depend only on its need and route, serialised once
  // per context (filled by PlanReferral; not thread-safe: one context per thread).
  mutable std::map<std::pair<const NeedDef*, const RouteConfig*>,
                   std::shared_ptr<const ReferralFragments>>
      fragments = {};
};

ReferralPlan PlanReferral(const NeedFlag& flag, const PatientFacts& facts, const PlanContext& ctx);

}  // namespace sdoh
