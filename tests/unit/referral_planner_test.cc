// The referral planner (plugin/referrals/referral_planner.h), issue 14 items 1, 2, 8 and 9:
// stale screenings, drafts for uncertain needs and review/consent routes, neutral wording for
// sensitive needs, codes and reasons, Task priority.
#include "plugin/referrals/referral_planner.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "plugin/referrals/identifiers.h"
#include "plugin/setup/pipeline.h"

namespace sdoh {
namespace {

constexpr int64_t kDay = 86400LL * 1000000LL;

class ReferralPlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    ASSERT_TRUE(p.ok()) << p.status().message();
    p_ = std::make_unique<Pipeline>(std::move(*p));
    p_->config.screening.max_age_days = 365;  // the product default (the demo config widens it)
    now_ = *fhir::ParseFhirDateTime("2026-06-01T12:00:00Z", fhir::TimeZone::Utc());
  }
  NeedFlag Flag(const std::string& need, int days_ago, bool possible = false) {
    NeedFlag f;
    f.patient_id = "pat-1";
    f.need = need;
    f.def = p_->catalog->FindNeed(need);
    EXPECT_NE(f.def, nullptr) << need;
    f.possible = possible;
    f.evidence = {{"QuestionnaireResponse/qr-1", "2"}};
    f.rules = {"rule-x"};
    f.why = {"hits score 12 > 10"};
    f.screened_at = now_ - days_ago * kDay;
    return f;
  }
  ReferralPlan Plan(const NeedFlag& f, const Declines* declines = nullptr,
                    const Completions* completions = nullptr) {
    PlanContext ctx{p_->catalog.get(), &p_->config, p_->ruleset.id(), p_->ruleset.version(), now_,
                    declines,          completions};
    PatientFacts facts;
    facts.present = true;
    return PlanReferral(f, facts, ctx);
  }
  static const PlannedResource* Find(const ReferralPlan& plan, const std::string& type) {
    for (const PlannedResource& r : plan.resources) {
      if (r.type == type) return &r;
    }
    return nullptr;
  }
  static rapidjson::Document Parse(const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    EXPECT_FALSE(d.HasParseError()) << json;
    return d;
  }

  std::unique_ptr<Pipeline> p_;
  fhir::InstantMicros now_ = 0;
};

TEST_F(ReferralPlannerTest, AScreeningOlderThanMaxAgeDaysIsStaleAndGetsNoReferral) {
  NeedFlag old = Flag("food", 730);
  EXPECT_TRUE(IsStale(old, p_->config, now_));
  EXPECT_EQ(ScreenedDaysAgo(old, now_), 730);
  ReferralPlan plan = Plan(old);
  EXPECT_EQ(plan.not_planned, kNotPlannedStale);
  EXPECT_TRUE(plan.resources.empty());

  NeedFlag recent = Flag("food", 364);
  EXPECT_FALSE(IsStale(recent, p_->config, now_));
  EXPECT_NE(Find(Plan(recent), "ServiceRequest"), nullptr);

  NeedFlag from_patient = Flag("interpreter", 0);  // no screening: never stale
  from_patient.screened_at.reset();
  EXPECT_FALSE(IsStale(from_patient, p_->config, now_));
  NeedFlag also_patient = Flag("interpreter", 730);  // an old screening, but the Patient too
  also_patient.evidence["Patient/pat-1"] = "";
  EXPECT_FALSE(IsStale(also_patient, p_->config, now_));
  p_->config.screening.max_age_days = 0;  // no limit
  EXPECT_FALSE(IsStale(old, p_->config, now_));
}

TEST_F(ReferralPlannerTest, APossibleNeedIsADraftProposalWithoutTaskWhateverTheRoute) {
  for (const char* need : {"interpreter", "food"}) {
    SCOPED_TRACE(need);
    ReferralPlan plan = Plan(Flag(need, 10, /*possible=*/true));
    const PlannedResource* sr = Find(plan, "ServiceRequest");
    ASSERT_NE(sr, nullptr);
    rapidjson::Document d = Parse(sr->json);
    EXPECT_STREQ(d["status"].GetString(), "draft");
    EXPECT_STREQ(d["intent"].GetString(), "proposal");
    EXPECT_EQ(Find(plan, "Task"), nullptr);
    EXPECT_EQ(plan.draft_reason, "possible");
  }
  // The social-work route has a Task: it is held for when the draft is activated.
  ReferralPlan food = Plan(Flag("food", 10, true));
  EXPECT_EQ(food.held_task.type, "Task");
  EXPECT_EQ(food.held_task.identifier, TaskIdentifier(Find(food, "ServiceRequest")->identifier));
  // Confirmed: an active order with its Task.
  ReferralPlan confirmed = Plan(Flag("food", 10, false));
  EXPECT_STREQ(Parse(Find(confirmed, "ServiceRequest")->json)["status"].GetString(), "active");
  EXPECT_NE(Find(confirmed, "Task"), nullptr);
  EXPECT_TRUE(confirmed.draft_reason.empty());
}

TEST_F(ReferralPlannerTest, ReviewAndConsentRoutesGiveDraftsAndHoldTheTask) {
  p_->config.routes["social-work"].consent_required = true;
  p_->config.routes["social-work"].consent_category = "http://loinc.org|59284-0";
  ReferralPlan plan = Plan(Flag("food", 10));
  EXPECT_EQ(plan.draft_reason, "consent");
  EXPECT_STREQ(Parse(Find(plan, "ServiceRequest")->json)["status"].GetString(), "draft");
  EXPECT_EQ(Find(plan, "Task"), nullptr);
  EXPECT_EQ(plan.held_task.type, "Task");
  p_->config.routes["social-work"].consent_required = false;
  p_->config.routes["social-work"].review = true;
  EXPECT_EQ(Plan(Flag("food", 10)).draft_reason, "review");
}

TEST_F(ReferralPlannerTest, ActivatingADraftMakesAnOrderAndListsTheConsent) {
  ReferralPlan plan = Plan(Flag("food", 10, true));
  rapidjson::Document d =
      Parse(ActivateServiceRequest(Find(plan, "ServiceRequest")->json, "Consent/c1"));
  EXPECT_STREQ(d["status"].GetString(), "active");
  EXPECT_STREQ(d["intent"].GetString(), "order");
  const auto& info = d["supportingInfo"];
  EXPECT_STREQ(info[info.Size() - 1]["reference"].GetString(), "Consent/c1");
}

TEST_F(ReferralPlannerTest, ASensitiveNeedIsNeutralInCategoryNoteAndFlag) {
  NeedFlag f = Flag("interpersonal-safety", 10);
  f.rules = {"prapare.partner-safety"};
  ReferralPlan plan = Plan(f);
  const PlannedResource* sr = Find(plan, "ServiceRequest");
  ASSERT_NE(sr, nullptr);
  EXPECT_EQ(sr->json.find("hits score"), std::string::npos) << sr->json;
  EXPECT_EQ(sr->json.find("Interpersonal"), std::string::npos) << sr->json;
  EXPECT_EQ(sr->json.find("Intimate"), std::string::npos) << sr->json;
  EXPECT_EQ(sr->json.find("interpersonal-safety ("), std::string::npos) << sr->json;
  rapidjson::Document d = Parse(sr->json);
  bool unspecified = false, ipv = false;
  for (const auto& cc : d["category"].GetArray()) {
    const auto& c = cc["coding"][0];
    if (std::string(c["code"].GetString()) == "sdoh-category-unspecified") {
      unspecified = true;
      EXPECT_STREQ(c["display"].GetString(), "SDOH Category Unspecified");  // CodeSystem display
      EXPECT_STREQ(cc["text"].GetString(), "Social needs follow-up");       // neutral
    }
    if (std::string(c["code"].GetString()) == "intimate-partner-violence") {
      ipv = true;
      EXPECT_FALSE(c.HasMember("display"));
    }
  }
  EXPECT_TRUE(unspecified);
  EXPECT_TRUE(ipv);  // PRAPARE 76501-6 → SDOHCC intimate-partner-violence
  EXPECT_TRUE(d.HasMember("orderDetail"));
  const PlannedResource* flag = Find(plan, "Flag");
  ASSERT_NE(flag, nullptr);
  rapidjson::Document fd = Parse(flag->json);
  EXPECT_FALSE(fd["code"]["coding"][0].HasMember("display"));
  EXPECT_STREQ(fd["code"]["text"].GetString(), "Social needs follow-up");
  // A need that is not sensitive keeps its why in the note and the domain in category.text.
  rapidjson::Document food = Parse(Find(Plan(Flag("food", 10)), "ServiceRequest")->json);
  EXPECT_NE(std::string(food["note"][0]["text"].GetString()).find("hits score 12 > 10"),
            std::string::npos);
  EXPECT_STREQ(food["category"][2]["text"].GetString(), "Food Insecurity");
}

TEST_F(ReferralPlannerTest, EveryServiceRequestCarriesAReasonAndNeverTheSubjectAsSupportingInfo) {
  for (const auto& [name, def] : p_->catalog->needs()) {
    if (!def.has_service) continue;
    SCOPED_TRACE(name);
    NeedFlag f = Flag(name, 10);
    f.evidence = {{"Patient/pat-1", ""}};  // a need read from the Patient resource alone
    f.screened_at.reset();
    rapidjson::Document d = Parse(Find(Plan(f), "ServiceRequest")->json);
    EXPECT_TRUE(d.HasMember("reasonCode") || d.HasMember("reasonReference"));
    EXPECT_FALSE(d.HasMember("supportingInfo"));
    ASSERT_TRUE(d["code"].HasMember("coding"));  // US Core Procedure Codes binding: required
  }
  NeedFlag obs = Flag("food", 10);
  obs.evidence = {{"Observation/o1", ""}};
  rapidjson::Document d = Parse(Find(Plan(obs), "ServiceRequest")->json);
  EXPECT_STREQ(d["reasonReference"][0]["reference"].GetString(), "Observation/o1");
  EXPECT_FALSE(d.HasMember("reasonCode"));
}

TEST_F(ReferralPlannerTest, InterpreterReferralCarriesTheHcpcsProcedureCode) {
  rapidjson::Document d = Parse(Find(Plan(Flag("interpreter", 10)), "ServiceRequest")->json);
  EXPECT_STREQ(d["code"]["coding"][0]["system"].GetString(), "urn:oid:2.16.840.1.113883.6.285");
  EXPECT_STREQ(d["code"]["coding"][0]["code"].GetString(), "T1013");
}

TEST_F(ReferralPlannerTest, TaskPriorityComesFromTheRouteAndARuleCanRaiseIt) {
  NeedFlag f = Flag("housing-instability", 10);
  EXPECT_STREQ(Parse(Find(Plan(f), "Task")->json)["priority"].GetString(), "routine");
  f.rules = {"ahc-hrsn.homeless", "ahc-hrsn.housing-instability"};
  EXPECT_STREQ(Parse(Find(Plan(f), "Task")->json)["priority"].GetString(), "urgent");
  p_->config.routes["social-work"].priority = "asap";  // the higher one wins
  EXPECT_STREQ(Parse(Find(Plan(f), "Task")->json)["priority"].GetString(), "asap");
}

}  // namespace
}  // namespace sdoh

namespace sdoh {
namespace {

// The default config with `from` replaced by `to`, loaded.
fhir::Result<Config> EditedConfig(const std::string& from, const std::string& to) {
  std::ifstream in(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  const std::string path = std::string(SDOH_SOURCE_DIR) + "/config/.referral-planner-test.yaml";
  std::ofstream(path) << text;
  auto c = LoadConfig(path);
  std::remove(path.c_str());
  return c;
}

// Issue 14 item 7: an override in force plans the Flag only, for that (patient, need) only; it
// ends after declined_days; a newer screening lifts it only when configured.
TEST_F(ReferralPlannerTest, ADeclinedReferralPlansTheFlagOnlyUntilItExpires) {
  Declines declines;
  declines.Add("pat-1", "food", {"patient-declined", now_ - 10 * kDay, now_ + 80 * kDay});
  NeedFlag food = Flag("food", 30);  // screened 30 days ago, before the decline
  ReferralPlan plan = Plan(food, &declines);
  EXPECT_EQ(plan.declined_reason, "patient-declined");
  EXPECT_EQ(plan.declined_until, now_ + 80 * kDay);
  EXPECT_EQ(Find(plan, "ServiceRequest"), nullptr);
  EXPECT_EQ(Find(plan, "Task"), nullptr);
  EXPECT_TRUE(plan.held_task.type.empty());
  EXPECT_NE(Find(plan, "Flag"), nullptr) << "the chart Flag stays";
  EXPECT_TRUE(plan.not_planned.empty());

  EXPECT_NE(Find(Plan(Flag("utilities", 30), &declines), "ServiceRequest"), nullptr)
      << "another need of the patient";
  NeedFlag other = Flag("food", 30);
  other.patient_id = "pat-2";
  EXPECT_NE(Find(Plan(other, &declines), "ServiceRequest"), nullptr) << "another patient";

  Declines expired;
  expired.Add("pat-1", "food", {"patient-declined", now_ - 91 * kDay, now_ - kDay});
  EXPECT_NE(Find(Plan(food, &expired), "ServiceRequest"), nullptr);

  // A rescreen after the decline does not lift it, unless configured.
  NeedFlag rescreened = Flag("food", 2);
  EXPECT_EQ(Find(Plan(rescreened, &declines), "ServiceRequest"), nullptr);
  p_->config.writeback.declined_lifted_by_new_screening = true;
  EXPECT_NE(Find(Plan(rescreened, &declines), "ServiceRequest"), nullptr);
  EXPECT_EQ(Find(Plan(food, &declines), "ServiceRequest"), nullptr);
}

// Issue 15 item 1: the Flag of a (patient, need) whose referral the performer completed says
// so, with the local date, and goes inactive flags.after_completion_days after it; a screening
// newer than the completion is a new episode (plain Flag); other patients and needs untouched.
TEST_F(ReferralPlannerTest, ACompletedReferralsFlagSaysSoAndEndsAfterTheConfiguredDays) {
  p_->config.flags.after_completion_days = 30;
  Completions done;
  done.Add("pat-1", "food", now_ - 10 * kDay);  // 2026-05-22T12:00Z
  NeedFlag food = Flag("food", 40);
  const PlannedResource* flag = nullptr;
  ReferralPlan plan = Plan(food, nullptr, &done);
  ASSERT_NE(flag = Find(plan, "Flag"), nullptr);
  rapidjson::Document d = Parse(flag->json);
  EXPECT_STREQ(d["status"].GetString(), "active");
  const std::string text = d["code"]["text"].GetString();
  EXPECT_NE(text.find(" — referral completed 2026-05-22"), std::string::npos) << text;
  EXPECT_FALSE(d["period"].HasMember("end"));
  EXPECT_NE(Find(plan, "ServiceRequest"), nullptr) << "the same referral: found, not re-made";

  // 31 days after the completion: inactive, ending 30 days after it.
  now_ += 21 * kDay;
  plan = Plan(Flag("food", 61), nullptr, &done);
  d = Parse(Find(plan, "Flag")->json);
  EXPECT_STREQ(d["status"].GetString(), "inactive");
  EXPECT_STREQ(d["period"]["end"].GetString(), "2026-06-21T12:00:00Z");
  // Applying it again changes nothing (the loop stage edits the server's copy the same way).
  EXPECT_EQ(FlagWithCompletion(Find(plan, "Flag")->json, now_ - 31 * kDay, now_, 30,
                               fhir::TimeZone::Utc()),
            Find(plan, "Flag")->json);

  // A screening after the completion: a new episode, the plain active Flag.
  d = Parse(Find(Plan(Flag("food", 5), nullptr, &done), "Flag")->json);
  EXPECT_STREQ(d["status"].GetString(), "active");
  EXPECT_EQ(std::string(d["code"]["text"].GetString()).find("referral completed"),
            std::string::npos);
  // Another need, another patient: untouched.
  d = Parse(Find(Plan(Flag("utilities", 61), nullptr, &done), "Flag")->json);
  EXPECT_STREQ(d["status"].GetString(), "active");
  NeedFlag other = Flag("food", 61);
  other.patient_id = "pat-2";
  d = Parse(Find(Plan(other, nullptr, &done), "Flag")->json);
  EXPECT_STREQ(d["status"].GetString(), "active");
  // after_completion_days 0: noted, never ended by time.
  p_->config.flags.after_completion_days = 0;
  d = Parse(Find(Plan(Flag("food", 61), nullptr, &done), "Flag")->json);
  EXPECT_STREQ(d["status"].GetString(), "active");
  EXPECT_NE(std::string(d["code"]["text"].GetString()).find("referral completed"),
            std::string::npos);
}

TEST(CompletionsTest, TheDateIsTheLocalDateAndAnInactiveFlagIsLeftAlone) {
  const fhir::InstantMicros t =
      *fhir::ParseFhirDateTime("2026-03-02T03:00:00Z", fhir::TimeZone::Utc());
  EXPECT_EQ(LocalDate(t, fhir::TimeZone::Utc()), "2026-03-02");
  EXPECT_EQ(LocalDate(t, *fhir::TimeZone::Parse("-05:00")), "2026-03-01");
  EXPECT_EQ(LocalDate(t, *fhir::TimeZone::Parse("+09:00")), "2026-03-02");
  const std::string inactive = R"({"status":"inactive","code":{"text":"Food"}})";
  EXPECT_EQ(FlagWithCompletion(inactive, t, t, 30, fhir::TimeZone::Utc()), inactive);
  const std::string once = FlagWithCompletion(R"({"status":"active","code":{"text":"Food"}})", t, t,
                                              30, fhir::TimeZone::Utc());
  EXPECT_EQ(once, R"({"status":"active","code":{"text":"Food — referral completed 2026-03-02"}})");
  EXPECT_EQ(FlagWithCompletion(once, t, t, 30, fhir::TimeZone::Utc()), once);
}

TEST(ReferralConfigTest, NewKeysAreReadAndCheckedNamingTheKey) {
  auto c = EditedConfig("max_age_days: 3650", "max_age_days: 30");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->screening.max_age_days, 30);
  EXPECT_EQ(c->writeback.max_new_referrals_per_pass, 500);
  EXPECT_EQ(c->rule_priority.at("ahc-hrsn.homeless"), "urgent");
  EXPECT_EQ(c->routes.at("social-work").priority, "routine");

  auto no_category = EditedConfig("      owner: Organization/social-work-team\n",
                                  "      owner: Organization/social-work-team\n"
                                  "      consent: required\n");
  ASSERT_FALSE(no_category.ok());
  EXPECT_NE(no_category.status().message().find("consent_category"), std::string::npos);

  auto bad_priority = EditedConfig("ahc-hrsn.homeless: urgent", "ahc-hrsn.homeless: soon");
  ASSERT_FALSE(bad_priority.ok());
  EXPECT_NE(bad_priority.status().message().find("routine, urgent, asap or stat"),
            std::string::npos);

  EXPECT_EQ(c->writeback.declined_days, 90);
  EXPECT_FALSE(c->writeback.declined_lifted_by_new_screening);
  auto declined = EditedConfig("writeback:\n",
                               "writeback:\n  declined_days: 30\n"
                               "  declined_lifted_by_new_screening: true\n");
  ASSERT_TRUE(declined.ok()) << declined.status().message();
  EXPECT_EQ(declined->writeback.declined_days, 30);
  EXPECT_TRUE(declined->writeback.declined_lifted_by_new_screening);
  auto bad_declined = EditedConfig("writeback:\n", "writeback:\n  declined_days: soon\n");
  ASSERT_FALSE(bad_declined.ok());
  EXPECT_NE(bad_declined.status().message().find("declined_days"), std::string::npos);

  // Found by fuzz_yaml_loaders: a route key that is not a string threw std::bad_variant_access
  // out of LoadConfig; now a config error naming the key.
  auto label = EditedConfig("label: social work", "label: [a, b]");
  ASSERT_FALSE(label.ok());
  EXPECT_NE(label.status().message().find("'label' must be a scalar"), std::string::npos)
      << label.status().message();

  EXPECT_EQ(c->flags.after_completion_days, 30);
  auto never = EditedConfig("after_completion_days: 30", "after_completion_days: 0");
  ASSERT_TRUE(never.ok()) << never.status().message();
  EXPECT_EQ(never->flags.after_completion_days, 0);
  auto bad_after = EditedConfig("after_completion_days: 30", "after_completion_days: soon");
  ASSERT_FALSE(bad_after.ok());
  EXPECT_NE(bad_after.status().message().find("'after_completion_days' must be 0"),
            std::string::npos);

  auto negative = EditedConfig("max_age_days: 3650", "max_age_days: -1");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("max_age_days"), std::string::npos);
}

}  // namespace
}  // namespace sdoh
