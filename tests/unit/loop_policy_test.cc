// Issue 15 item 1: the loop policy (plugin/referrals/loop_policy.h) and the follow-up
// identifier (identifiers.h), pure.
#include "plugin/referrals/loop_policy.h"

#include <gtest/gtest.h>

#include "plugin/referrals/identifiers.h"

namespace sdoh {
namespace {

constexpr fhir::InstantMicros kDay = 86400LL * 1000000;

fhir::InstantMicros At(const char* s) { return *fhir::ParseFhirDateTime(s, fhir::TimeZone::Utc()); }

LoopTask Task(const char* status, const char* authored = "2025-03-01") {
  LoopTask t;
  t.status = status;
  t.authored = authored;
  return t;
}

TEST(LoopPolicyTest, BouncedWhileOpenGetsAFollowUpOfItsStatus) {
  LoopConfig c;
  const auto now = At("2025-03-02T00:00:00Z");
  for (const char* s : {"rejected", "failed", "cancelled"}) {
    EXPECT_EQ(DecideLoop(Task(s), now, true, "", now, c).follow_up_kind, s);
    // Retracted by us (the need went away): no follow-up.
    EXPECT_EQ(DecideLoop(Task(s), now, false, "", now, c).follow_up_kind, "");
  }
}

TEST(LoopPolicyTest, RequestedStallsAfterAcceptWithinDaysFromAuthoredOn) {
  LoopConfig c;  // 7 and 30 days
  const auto authored = At("2025-03-01");
  EXPECT_EQ(
      DecideLoop(Task("requested"), authored, true, "", authored + 7 * kDay, c).follow_up_kind, "");
  EXPECT_EQ(
      DecideLoop(Task("requested"), authored, true, "", authored + 7 * kDay + 1, c).follow_up_kind,
      "stalled-requested");
  c.accept_within_days = 10;
  EXPECT_EQ(
      DecideLoop(Task("requested"), authored, true, "", authored + 8 * kDay, c).follow_up_kind, "");
}

TEST(LoopPolicyTest, AcceptedOrInProgressStallsAfterCompleteWithinDaysWithoutAChange) {
  LoopConfig c;
  const auto since = At("2025-03-10T12:00:00Z");
  for (const char* s : {"accepted", "in-progress"}) {
    EXPECT_EQ(DecideLoop(Task(s), since, true, "", since + 30 * kDay, c).follow_up_kind, "");
    EXPECT_EQ(DecideLoop(Task(s), since, true, "", since + 31 * kDay, c).follow_up_kind,
              std::string("stalled-") + s);
  }
}

TEST(LoopPolicyTest, CompletedClosesAnOpenServiceRequestOnly) {
  LoopConfig c;
  const auto now = At("2025-03-02T00:00:00Z");
  EXPECT_TRUE(DecideLoop(Task("completed"), now, true, "active", now, c).complete_service_request);
  EXPECT_FALSE(
      DecideLoop(Task("completed"), now, true, "completed", now, c).complete_service_request);
  EXPECT_EQ(DecideLoop(Task("completed"), now, true, "active", now, c).follow_up_kind, "");
}

TEST(LoopPolicyTest, ReadLoopTaskTakesReasonOwnerOutputAndIdentifier) {
  LoopTask t = ReadLoopTask(
      R"({"resourceType":"Task","id":"t1","meta":{"versionId":"3","lastUpdated":"2025-03-02T10:00:00Z"},
          "identifier":[{"system":"other","value":"x"},{"system":"urn:s","value":"task-1"}],
          "status":"completed","statusReason":{"coding":[{"code":"unreachable"}]},
          "owner":{"reference":"Organization/o"},"for":{"reference":"Patient/p1"},
          "focus":{"reference":"ServiceRequest/s1"},"authoredOn":"2025-03-01",
          "output":[{"type":{"text":"x"},"valueReference":{"reference":"Procedure/p"}},
                    {"type":{"text":"y"},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"710925007"}]}}]})",
      "urn:s");
  EXPECT_EQ(t.identifier, "task-1");
  EXPECT_EQ(t.version, "3");
  EXPECT_EQ(t.status_reason, "unreachable");
  EXPECT_EQ(t.owner, "Organization/o");
  EXPECT_EQ(t.patient, "p1");
  EXPECT_EQ(t.focus, "ServiceRequest/s1");
  EXPECT_EQ(t.output, "Procedure/p,http://snomed.info/sct|710925007");
}

TEST(LoopPolicyTest, FollowUpIdentifierIsFixedPerTaskAndKind) {
  const std::string a = FollowUpIdentifier("task-1", "rejected");
  EXPECT_EQ(a, FollowUpIdentifier("task-1", "rejected"));
  EXPECT_NE(a, FollowUpIdentifier("task-1", "stalled-requested"));
  EXPECT_NE(a, FollowUpIdentifier("task-2", "rejected"));
  EXPECT_EQ(a.rfind("followup-", 0), 0u);
  EXPECT_EQ(a.size(), std::string("followup-").size() + 32 + std::string("-rejected").size());
}

TEST(LoopPolicyTest, TheFollowUpTaskNamesThePerformerAndReasonAndGoesToTheCareManager) {
  LoopTask t;
  t.id = "42";
  t.patient = "p1";
  t.owner = "Organization/food-bank";
  t.status_reason = "No capacity";
  RouteConfig route;
  route.requester = "Organization/clinic";
  route.care_manager = "Organization/care-management";
  std::string json = BuildFollowUpTask(t, "rejected", "followup-x-rejected", route, "urn:s",
                                       At("2025-03-02T00:00:00Z"));
  EXPECT_NE(json.find("Referral declined by Organization/food-bank: No capacity — choose another "
                      "service or contact the patient"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("owner":{"reference":"Organization/care-management"})"),
            std::string::npos);
  EXPECT_NE(json.find(R"("focus":{"reference":"Task/42"})"), std::string::npos);
  route.care_manager.clear();
  json = BuildFollowUpTask(t, "rejected", "followup-x-rejected", route, "urn:s", 0);
  EXPECT_NE(json.find(R"("owner":{"reference":"Organization/clinic"})"), std::string::npos);
}

}  // namespace
}  // namespace sdoh
