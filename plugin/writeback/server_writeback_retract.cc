// Needs no longer positive for a patient: their referrals retracted when what justified them
// is gone (a screening entered-in-error or deleted, a withdrawn rule-set version), their Flags
// entered-in-error with the retraction or else inactivated.
#include <map>
#include <set>

#include "fhir/json.h"
#include "plugin/referrals/identifiers.h"
#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback::internal {

// Every patient seen here was read in full (an incremental pass re-reads each changed patient
// whole: fhir/client/rest_store.h), so a need missing from `positive` is really no longer
// positive.
void ServerWriteback::RetractNoLongerPositive(const std::string& pid,
                                              const std::set<std::string>& positive,
                                              const View& v) {
  std::map<std::string, std::string> retracted = RetractOpenReferrals(pid, positive, v);
  CloseFlagsOfNeedsGone(pid, positive, retracted, v);
}

std::map<std::string, std::string> ServerWriteback::RetractOpenReferrals(
    const std::string& pid, const std::set<std::string>& positive, const View& v) {
  std::map<std::string, std::vector<const ServerResource*>> open_by_need;
  for (const ServerResource& sr : v.srs) {
    auto id = ParseIdentifier(sr.identifier, pid, *ctx_.catalog);
    if (id && id->kind == IdentifierKind::kServiceRequest && !positive.count(id->need) &&
        IsOpenServiceRequest(sr.status)) {
      open_by_need[id->need].push_back(&sr);
    }
  }
  std::map<std::string, std::string> retracted;  // need -> reason
  for (const auto& [need, srs] : open_by_need) {
    // Retraction: its evidence includes a screening now entered-in-error.
    if (EvidenceRetracted(srs)) {
      retracted[need] = "screening-entered-in-error";
      Retract(pid, need, v, srs, retracted[need]);
      continue;
    }
    // A withdrawn rule-set version: the current rules no longer find this need, so the
    // referrals written under the withdrawn version are what alone justified it.
    std::vector<const ServerResource*> withdrawn;
    for (const ServerResource* sr : srs) {
      if (UnderWithdrawnRuleset(*sr)) withdrawn.push_back(sr);
    }
    if (!withdrawn.empty()) {
      retracted[need] = "ruleset-withdrawn";
      Retract(pid, need, v, withdrawn, retracted[need]);
    }
  }
  return retracted;
}

bool ServerWriteback::EvidenceRetracted(const std::vector<const ServerResource*>& srs) {
  bool evidence_retracted = false;
  for (const ServerResource* sr : srs) {
    for (const std::string& ref : sr->evidence) {
      // Entered in error, or deleted from the server (410 Gone; a `--full` pass is how a
      // deletion is noticed): what it alone justified is retracted.
      auto r = ctx_.client->Get(ref);
      if (r.ok() && r->body && fhir::json::StrMember(*r->body, "status") == "entered-in-error") {
        evidence_retracted = true;
      } else if (!r.ok() && r.error().http_status == 410) {
        evidence_retracted = true;
      }
    }
  }
  return evidence_retracted;
}

void ServerWriteback::CloseFlagsOfNeedsGone(const std::string& pid,
                                            const std::set<std::string>& positive,
                                            std::map<std::string, std::string>& retracted,
                                            const View& v) {
  for (const ServerResource& f : v.flags) {
    auto id = ParseIdentifier(f.identifier, pid, *ctx_.catalog);
    if (!id || id->kind != IdentifierKind::kFlag || positive.count(id->need)) continue;
    const std::string& need = id->need;
    if (retracted.count(need)) {
      if (f.status == "entered-in-error") continue;
      if (Writes() && Put(f, WithStatus(f.json, "entered-in-error"),
                          {"retract", "flag-entered-in-error", "Flag", f.identifier, pid, need,
                           retracted[need], 0, 0, "", "", ""}) == PutResult::kSkipped) {
        continue;
      }
      retractions_.Add({{"patient", "Patient/" + pid},
                        {"need", need},
                        {"reference", f.Reference()},
                        {"action", "entered-in-error"}});
    } else if (f.status == "active") {
      if (Writes() && Put(f, InactiveFlag(f.json, fhir::FormatInstantUtc(ctx_.now)),
                          {"update", "flag-inactive", "Flag", f.identifier, pid, need,
                           "need-not-positive", 0, 0, "", "", ""}) == PutResult::kSkipped) {
        continue;
      }
      flags_.Add({{"patient", "Patient/" + pid},
                  {"need", need},
                  {"identifier", f.identifier},
                  {"reference", f.Reference()},
                  {"action", "inactivate"}});
    }
  }
}

bool ServerWriteback::UnderWithdrawnRuleset(const ServerResource& sr) const {
  if (cfg_.writeback.withdrawn_rulesets.empty()) return false;
  rapidjson::Document d;
  d.Parse(sr.json.c_str());
  if (d.HasParseError()) return false;
  auto ruleset = RulesetOf(d);
  if (!ruleset) return false;
  const std::string id_version = ruleset->first + " " + ruleset->second;
  for (const std::string& w : cfg_.writeback.withdrawn_rulesets) {
    if (w == id_version || w == ruleset->second) return true;
  }
  return false;
}

void ServerWriteback::Retract(const std::string& patient, const std::string& need, const View& v,
                              const std::vector<const ServerResource*>& srs,
                              const std::string& reason) {
  for (const ServerResource* sr : srs) {
    if (Writes() && Put(*sr, WithStatus(sr->json, "revoked"),
                        {"retract", "revoke", "ServiceRequest", sr->identifier, patient, need,
                         reason, 0, 0, "", "", ""}) == PutResult::kSkipped) {
      continue;  // not ours as the ledger recorded it, or closed: its Tasks are left too
    }
    retractions_.Add({{"patient", "Patient/" + patient},
                      {"need", need},
                      {"reference", sr->Reference()},
                      {"action", "revoked"}});
    for (const ServerResource& t : v.tasks) {
      if (t.focus != sr->Reference() || !IsOpenTask(t.status)) continue;
      if (Writes() && Put(t, CancelledTask(t.json, "Referral retracted by sdoh-bridge: " + reason),
                          {"retract", "cancel", "Task", t.identifier, patient, need, reason, 0, 0,
                           "", "", ""}) == PutResult::kSkipped) {
        continue;
      }
      retractions_.Add({{"patient", "Patient/" + patient},
                        {"need", need},
                        {"reference", t.Reference()},
                        {"action", "cancelled"}});
    }
  }
}

}  // namespace sdoh::writeback::internal
