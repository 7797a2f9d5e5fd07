// The one identity module: the only place that makes and parses the business identifiers of
// the resources sdoh-bridge writes (system: `referrals.identifier_system`), and the rule-set tag
// each of them carries. README "Identity" documents the formats.
//
// Format 2 (this release). Every value has a fixed shape, so no need name or patient id can
// shift one value onto another, and no value names the need (a sensitive need stays hidden):
//   Flag            flag-<K>        K = 16 hex digits of SHA-256 over the length-prefixed fields
//                                   ("need", <patient id>, <need>)
//   ServiceRequest  sr-<K>-<E>      E = 32 hex digits of SHA-256 over ("referral", <patient id>,
//                                   <need>, <evidence 1>, <evidence 2>, ...), evidence sorted,
//                                   each with "/_history/<versionId>" when it has one
//   Task            task-<K>-<E>    its ServiceRequest's K and E
// K names the (patient, need) pair; given the patient and the catalog's needs, ParseIdentifier
// finds the need back by recomputing K for each need.
//
// Format 1 (before this release), still recognised so that referrals already on a server are
// found, suppressed, retracted and revoked like new ones (no migration is needed):
//   ServiceRequest  <need>-<32 hex>;  Task  <that value>-task;  Flag  <need>-<patient id>
// A format-1 Flag value is ambiguous without its subject ("interpersonal-safety" +
// "incomplete-pat29" = "interpersonal-safety-incomplete" + "pat29"), so it is parsed only
// together with the patient id it belongs to.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <rapidjson/document.h>

#include "plugin/rules/rules_engine.h"
#include "plugin/setup/catalog.h"

namespace sdoh {

enum class IdentifierKind { kServiceRequest, kTask, kFlag };

struct ReferralIdentity {
  IdentifierKind kind = IdentifierKind::kFlag;
  std::string need;
  bool legacy = false;  // format 1
  // ServiceRequest and Task: the value of the ServiceRequest they belong to.
  std::string service_request;
};

std::string ServiceRequestIdentifier(const NeedFlag& flag);
// The Task of a ServiceRequest (either format).
std::string TaskIdentifier(std::string_view service_request_identifier);
std::string FlagIdentifier(std::string_view patient_id, std::string_view need);
// The same value from the patient's ServiceRequest identifier for that need (format 2: both
// carry the need key): FlagIdentifier without a second hash.
// REQUIRES: service_request_identifier is ServiceRequestIdentifier(flag) for that need.
std::string FlagIdentifierOf(std::string_view service_request_identifier);
// Issue 15 item 1: the follow-up Task for the care manager when our referral Task `task_value`
// bounced or stalled: "followup-<32 hex>-<kind>", the hex of SHA-256 over ("followup", task
// value, kind); kind is declined | stalled-requested | stalled-accepted. One per (Task, kind),
// whatever the pass, so a rerun or a crash never makes a second one.
std::string FollowUpIdentifier(std::string_view task_value, std::string_view kind);
// Issue 15 item 4: the patient Task asking `patient_id` to complete the screening form, for one
// episode of being due: "outreach-<32 hex>", the hex of SHA-256 over ("outreach", patient id,
// the newest screening's instant or "" when never screened). A rerun finds it again; a newer
// screening (a new episode) gives another.
std::string OutreachTaskIdentifier(std::string_view patient_id, std::string_view last_screened);

// What one of our identifier values says, for a resource whose subject is `patient_id`: its
// kind and need. nullopt when the value is not ours (no known shape, an unknown need, or the
// value belongs to another patient).
std::optional<ReferralIdentity> ParseIdentifier(std::string_view value, std::string_view patient_id,
                                                const Catalog& catalog);

// The rule set a resource was written under, as structured data: a meta.tag with this system
// and the code "<ruleset id>|<version>".
inline constexpr std::string_view kRulesetTagSystem = "urn:sdoh-bridge:ruleset";
std::string RulesetTagCode(std::string_view ruleset_id, std::string_view version);
// {id, version} from the resource's meta.tag; for format-1 resources (no tag) from the note
// they carried ("... Rule set <id> <version>. ..."). nullopt when neither is there.
std::optional<std::pair<std::string, std::string>> RulesetOf(const rapidjson::Value& resource);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace sdoh
