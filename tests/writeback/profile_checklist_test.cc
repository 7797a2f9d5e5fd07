// Per-element checklist of the written ServiceRequest, Task and Flag against the SDOHCC /
// US Core element rules (shared/reference/sdoh-codes.md §6.2, §6.3, §7), for every need the
// default mappings define, with the Task as it is actually sent (focus rewritten to urn:uuid).
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "plugin/referrals/identifiers.h"
#include "plugin/referrals/referral_planner.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/transaction_bundle.h"

namespace sdoh::writeback {
namespace {

bool HasCoding(const rapidjson::Value& cc, const std::string& system, const std::string& code) {
  if (!cc.IsObject() || !cc.HasMember("coding")) return false;
  for (const auto& c : cc["coding"].GetArray()) {
    if (c["system"].GetString() == system && c["code"].GetString() == code) return true;
  }
  return false;
}

bool AnyCategory(const rapidjson::Value& r, const std::string& system, const std::string& code) {
  if (!r.HasMember("category")) return false;
  for (const auto& cc : r["category"].GetArray()) {
    if (HasCoding(cc, system, code)) return true;
  }
  return false;
}

std::string Ref(const rapidjson::Value& r, const char* m) {
  return r.HasMember(m) && r[m].HasMember("reference") ? r[m]["reference"].GetString() : "";
}

TEST(ProfileChecklistTest, ServiceRequestTaskAndFlagCarryTheRequiredElements) {
  auto p = LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
  ASSERT_TRUE(p.ok()) << p.status().message();
  const std::string domain_system = p->catalog->domain_system();
  const std::set<std::string> request_status{"draft",     "active",           "on-hold", "revoked",
                                             "completed", "entered-in-error", "unknown"};
  const std::set<std::string> request_intent{"proposal",     "plan",           "directive",
                                             "order",        "original-order", "reflex-order",
                                             "filler-order", "instance-order", "option"};
  const std::set<std::string> task_status{"draft",     "requested",       "accepted", "rejected",
                                          "cancelled", "in-progress",     "on-hold",  "failed",
                                          "completed", "entered-in-error"};
  PlanContext ctx{p->catalog.get(), &p->config, p->ruleset.id(), p->ruleset.version(),
                  *fhir::ParseFhirDateTime("2024-06-01T12:00:00Z", fhir::TimeZone::Utc())};
  int checked_sr = 0, checked_task = 0, checked_flag = 0;
  for (const auto& [name, def] : p->catalog->needs()) {
    NeedFlag flag;
    flag.patient_id = "pat-1";
    flag.need = name;
    flag.def = &def;
    flag.possible = false;
    flag.evidence = {{"QuestionnaireResponse/qr-1", "3"}, {"Observation/obs-1", ""}};
    flag.rules = {"rule"};
    flag.why = {"rule fired"};
    flag.screened_at = ctx.now;
    PatientFacts facts;
    facts.present = true;
    ReferralPlan plan = PlanReferral(flag, facts, ctx);
    std::string sr_identifier;
    for (const PlannedResource& r : plan.resources) {
      rapidjson::Document d;
      std::string json = r.json;
      if (r.type == "Task") {
        // As sent: the transaction rewrites the focus to the ServiceRequest's urn:uuid.
        json = WithFocus(json, UrnFor(p->config.identifier_system, sr_identifier));
      }
      d.Parse(json.c_str());
      ASSERT_FALSE(d.HasParseError()) << name << " " << r.type;
      SCOPED_TRACE(name + " " + r.type);
      // Every resource: the business identifier under the configured system.
      ASSERT_TRUE(d.HasMember("identifier"));
      EXPECT_EQ(std::string(d["identifier"][0]["system"].GetString()), p->config.identifier_system);
      EXPECT_EQ(std::string(d["identifier"][0]["value"].GetString()), r.identifier);
      // Every resource: the rule set it was written under, as a meta.tag (identifiers.h).
      auto ruleset = RulesetOf(d);
      ASSERT_TRUE(ruleset.has_value());
      EXPECT_EQ(ruleset->first, p->ruleset.id());
      EXPECT_EQ(ruleset->second, p->ruleset.version());
      if (r.type == "ServiceRequest") {
        ++checked_sr;
        sr_identifier = r.identifier;
        EXPECT_TRUE(request_status.count(d["status"].GetString()));  // 1..1, required binding
        EXPECT_TRUE(request_intent.count(d["intent"].GetString()));  // 1..1
        EXPECT_TRUE(AnyCategory(d, "http://hl7.org/fhir/us/core/CodeSystem/us-core-category",
                                "sdoh"));                             // US Core slice
        EXPECT_TRUE(AnyCategory(d, domain_system, def.domain.code));  // SDOHCC slice
        ASSERT_TRUE(d.HasMember("code"));                             // 1..1
        EXPECT_TRUE(d["code"].HasMember("coding") || d["code"].HasMember("text"));
        EXPECT_EQ(Ref(d, "subject"), "Patient/pat-1");  // 1..1
        ASSERT_TRUE(d.HasMember("authoredOn"));         // MS
        EXPECT_TRUE(fhir::ParseFhirDateTime(d["authoredOn"].GetString(), fhir::TimeZone::Utc()));
        EXPECT_FALSE(Ref(d, "requester").empty());    // MS
        EXPECT_FALSE(d.HasMember("specimen"));        // 0..0
        EXPECT_FALSE(d.HasMember("bodySite"));        // 0..0
        ASSERT_TRUE(d.HasMember("reasonReference"));  // evidence
        EXPECT_STREQ(d["reasonReference"][0]["reference"].GetString(), "Observation/obs-1");
        EXPECT_EQ(std::string(d["meta"]["profile"][0].GetString()),
                  "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
                  "SDOHCC-ServiceRequest");
        // identifiers.h: sr-<16 hex>-<32 hex>, the need not named.
        EXPECT_EQ(r.identifier.rfind("sr-", 0), 0u);
        EXPECT_EQ(r.identifier.size(), 3u + 16 + 1 + 32);
        EXPECT_EQ(r.identifier.find(name), std::string::npos);
      } else if (r.type == "Task") {
        ++checked_task;
        EXPECT_STREQ(d["intent"].GetString(), "order");  // fixed
        EXPECT_TRUE(HasCoding(d["code"], "http://hl7.org/fhir/CodeSystem/task-code", "fulfill"));
        EXPECT_TRUE(task_status.count(d["status"].GetString()));  // not ready/received
        EXPECT_EQ(Ref(d, "focus"), UrnFor(p->config.identifier_system, sr_identifier));
        EXPECT_EQ(Ref(d, "for"), "Patient/pat-1");  // 1..1
        EXPECT_TRUE(d.HasMember("authoredOn"));     // 1..1
        EXPECT_FALSE(Ref(d, "requester").empty());  // 1..1
        EXPECT_EQ(r.identifier, TaskIdentifier(sr_identifier));
        EXPECT_EQ(std::string(d["meta"]["profile"][0].GetString()),
                  "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
                  "SDOHCC-TaskForReferralManagement");
      } else if (r.type == "Flag") {
        ++checked_flag;
        EXPECT_STREQ(d["status"].GetString(), "active");  // 1..1
        ASSERT_TRUE(d.HasMember("category"));
        EXPECT_STREQ(d["category"][0]["coding"][0]["system"].GetString(),
                     "http://terminology.hl7.org/CodeSystem/flag-category");
        ASSERT_TRUE(d.HasMember("code"));  // 1..1
        EXPECT_TRUE(HasCoding(d["code"], domain_system, def.domain.code));
        EXPECT_TRUE(d["code"].HasMember("text"));
        EXPECT_EQ(Ref(d, "subject"), "Patient/pat-1");  // 1..1
        EXPECT_EQ(r.identifier, FlagIdentifier("pat-1", name));
      }
    }
  }
  EXPECT_GE(checked_sr, 5);
  EXPECT_GE(checked_task, 4);
  EXPECT_GE(checked_flag, 8);
}

}  // namespace
}  // namespace sdoh::writeback
