// The referral stage (pure): a need flag and the patient's facts in, the resources to write
// out — SDOHCC ServiceRequest, Task for referral management, chart Flag — each with a
// deterministic business identifier (plugin/referrals/identifiers.h) so a retry or a rerun
// never makes a second one, and the rule-set tag.
//
// What gets ordered (issue 14): a stale need (its screening older than screening.max_age_days)
// gets nothing; a `possible` need, a route with `review: true` or a route with
// `consent: required` gets a draft proposal ServiceRequest and no Task (the route's Task is
// kept in ReferralPlan::held_task for when the draft is activated). Sensitive needs carry
// neutral wording only (category text, note, Flag code); every ServiceRequest carries a reason.

#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/referrals/completions.h"
#include "plugin/referrals/declines.h"
#include "plugin/referrals/directory.h"
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
  std::string not_planned;  // non-empty: why no resources (deceased, inactive, stale, ...)
  std::vector<PlannedResource> resources;
  // A referral declined through CDS feedback and still in force (issue 14 item 7): reason code
  // and when; then only the Flag is planned (no ServiceRequest, no Task).
  std::string declined_reason;
  fhir::InstantMicros declined_at = 0;
  fhir::InstantMicros declined_until = 0;
  // Why the ServiceRequest is a draft proposal: "" (an active order), "possible" (uncertain
  // need), "review" (route review: true) or "consent" (route consent: required).
  std::string draft_reason;
  // The route's Task for a draft ServiceRequest (type empty when none): writeback creates it
  // once the draft is active — activated in the EHR, or by the pass that finds the Consent.
  PlannedResource held_task;
  // Issue 15 item 3: the service directory's choice of performer (consulted only when a
  // directory is configured and a ServiceRequest is planned). When it names a service, the
  // ServiceRequest.performer is that HealthcareService and the Task.owner its providedBy
  // Organization (the HealthcareService when it has none); else the route's performer/owner.
  DirectoryChoice directory;
};

// The reason token of ReferralPlan::not_planned for a stale need (summary
// referrals_not_planned counts it under this key).
inline constexpr const char* kNotPlannedStale = "stale";
// ... for a declined referral when the route writes no Flag either.
inline constexpr const char* kNotPlannedDeclined = "declined";

struct ReferralFragments;

struct PlanContext {
  const Catalog* catalog = nullptr;
  const Config* config = nullptr;
  std::string ruleset_id;
  std::string ruleset_version;
  fhir::InstantMicros now = 0;  // authoredOn
  // Declines in force (CDS feedback, issue 14 item 7); null: none.
  const Declines* declines = nullptr;
  // Referrals the performer completed (the ledger's loop, issue 15 item 1); null: none. The
  // Flag of such a (patient, need) says so and ends after flags.after_completion_days.
  const Completions* completions = nullptr;
  // Issue 15 item 3: the service directory (null: none configured, the route's performer) and
  // the performers that rejected a patient's referral for a need before (null: none).
  const Directory* directory = nullptr;
  const RejectedPerformers* rejected = nullptr;
  // The JSON of the parts of a referral that depend only on its need and route, serialised once
  // per context (filled by PlanReferral; not thread-safe: one context per thread).
  mutable std::map<std::pair<const NeedDef*, const RouteConfig*>,
                   std::shared_ptr<const ReferralFragments>>
      fragments = {};
};

ReferralPlan PlanReferral(const NeedFlag& flag, const PatientFacts& facts, const PlanContext& ctx);

// Issue 15 item 3: the directory's performer for this flag's referral. REQUIRES ctx.directory.
DirectoryChoice ChoosePerformer(const NeedFlag& flag, const PatientFacts& facts,
                                const PlanContext& ctx);

// Whole days between the flag's deciding screening and `now`; -1 when it has none (a need
// read from the Patient resource alone).
int64_t ScreenedDaysAgo(const NeedFlag& flag, fhir::InstantMicros now);
// True when the deciding screening is older than config.screening.max_age_days (0: never).
// Never for a need the Patient resource also decides (its evidence lists the Patient).
bool IsStale(const NeedFlag& flag, const Config& config, fhir::InstantMicros now);

// One of our draft ServiceRequests (JSON) made an active order; `consent_reference`
// ("Consent/<id>"), when given, is added to supportingInfo. Pure JSON edit.
std::string ActivateServiceRequest(const std::string& service_request_json,
                                   const std::string& consent_reference);

// The Task priority for this flag: the route's, raised by referrals.rule_priority of any rule
// that fired.
std::string TaskPriority(const NeedFlag& flag, const RouteConfig& route, const Config& config);

}  // namespace sdoh
