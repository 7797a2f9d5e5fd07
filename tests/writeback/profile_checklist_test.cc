// Per-element checklist of the written ServiceRequest, Task and Flag against the SDOHCC /
// US Core element rules (shared/reference/sdoh-codes.md §6.2, §6.3, §7), for every need the
// default mappings define, with the Task as it is actually sent (focus rewritten to urn:uuid).
// Issue 14: a reason on every ServiceRequest (reasonReference, else reasonCode), never the
// subject in supportingInfo, a coded ServiceRequest.code (US Core Procedure Codes, required),
// category.text, Task.priority, and neutral wording for sensitive needs.
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
        EXPECT_TRUE(d["code"].HasMember("coding"));  // required binding: a code, not text only
        for (const auto& info : d["supportingInfo"].GetArray()) {
          EXPECT_NE(std::string(info["reference"].GetString()), "Patient/pat-1");
        }
        // The domain category: its CodeSystem display (when any) and a text.
        bool domain_text = false;
        for (const auto& cc : d["category"].GetArray()) {
          if (HasCoding(cc, domain_system, def.domain.code)) {
            domain_text = cc.HasMember("text");
            EXPECT_EQ(std::string(cc["text"].GetString()),
                      def.sensitive ? def.neutral_text : def.domain_text);
          }
        }
        EXPECT_TRUE(domain_text);
        if (def.sensitive) {  // nothing a non-care-team reader may see names the need
          EXPECT_EQ(json.find("\"display\":\"" + def.domain_text + "\""), std::string::npos);
          EXPECT_EQ(json.find("rule fired"), std::string::npos);  // the why stays out of the note
          EXPECT_TRUE(d.HasMember("orderDetail"));
        }
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
        ASSERT_TRUE(d.HasMember("priority"));       // MS
        EXPECT_TRUE(IsTaskPriority(d["priority"].GetString()));
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
        if (def.sensitive) {
          EXPECT_FALSE(d["code"]["coding"][0].HasMember("display"));
          EXPECT_EQ(std::string(d["code"]["text"].GetString()), def.flag_text);
        }
        EXPECT_EQ(Ref(d, "subject"), "Patient/pat-1");  // 1..1
        EXPECT_EQ(r.identifier, FlagIdentifier("pat-1", name));
      }
    }
  }
  EXPECT_GE(checked_sr, 5);
  EXPECT_GE(checked_task, 4);
  EXPECT_GE(checked_flag, 8);
}

// A need read from the Patient resource alone: the reason comes from mappings/ (reasonCode) and
// the subject is not supportingInfo (issue 14 item 9).
TEST(ProfileChecklistTest, WithoutEvidenceObservationsTheReasonIsAReasonCode) {
  auto p = LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
  ASSERT_TRUE(p.ok()) << p.status().message();
  PlanContext ctx{p->catalog.get(), &p->config, p->ruleset.id(), p->ruleset.version(),
                  *fhir::ParseFhirDateTime("2024-06-01T12:00:00Z", fhir::TimeZone::Utc())};
  for (const auto& [name, def] : p->catalog->needs()) {
    if (!def.has_service) continue;
    SCOPED_TRACE(name);
    NeedFlag flag;
    flag.patient_id = "pat-1";
    flag.need = name;
    flag.def = &def;
    flag.possible = false;
    flag.evidence = {{"Patient/pat-1", "4"}, {"QuestionnaireResponse/qr-1", ""}};
    PatientFacts facts;
    facts.present = true;
    ReferralPlan plan = PlanReferral(flag, facts, ctx);
    ASSERT_FALSE(plan.resources.empty());
    rapidjson::Document d;
    d.Parse(plan.resources[0].json.c_str());
    ASSERT_TRUE(d.HasMember("reasonCode"));
    EXPECT_FALSE(d.HasMember("reasonReference"));
    EXPECT_TRUE(d["reasonCode"][0].HasMember("text") || d["reasonCode"][0].HasMember("coding"));
    ASSERT_EQ(d["supportingInfo"].Size(), 1u);
    EXPECT_STREQ(d["supportingInfo"][0]["reference"].GetString(), "QuestionnaireResponse/qr-1");
  }
}

}  // namespace
}  // namespace sdoh::writeback
