// ReferralReader (plugin/report/referral_status.h): which ServiceRequests and Tasks are
// sdoh-bridge's, the status a referral gets, days open, the period, and interpreter referrals.
#include "plugin/report/referral_status.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "plugin/referrals/identifiers.h"

namespace sdoh::report {
namespace {

const std::string kSystem = "urn:sdoh-bridge:referral";
const std::string kHex = "0123456789abcdef0123456789abcdef";

// The identifier's hex digits, one set per patient ("p1" → "1123…"), as distinct referrals have.
std::string Hex(const std::string& patient) { return patient.back() + kHex.substr(1); }

const Catalog& TheCatalog() {
  static const std::unique_ptr<Catalog> catalog =
      std::move(*Catalog::Load(std::string(SDOH_SOURCE_DIR) + "/mappings"));
  return *catalog;
}

fhir::InstantMicros At(const std::string& when) {
  return *fhir::ParseFhirDateTime(when, fhir::TimeZone::Utc());
}

void Feed(ReferralReader& reader, const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_FALSE(d.HasParseError()) << json;
  reader.OnResource(d["resourceType"].GetString(), d, fhir::SourceLocation{"test", 1});
}

std::string Sr(const std::string& need, const std::string& patient, const std::string& status,
               const std::string& system = kSystem, const std::string& authored = "2025-01-15") {
  return R"({"resourceType":"ServiceRequest","id":"sr-)" + need + patient +
         R"(","identifier":[{"system":")" + system + R"(","value":")" + need + "-" + Hex(patient) +
         R"("}],"status":")" + status + R"(","subject":{"reference":"Patient/)" + patient +
         R"("},"authoredOn":")" + authored + R"(","meta":{"lastUpdated":"2025-03-01T00:00:00Z"}})";
}

std::string Task(const std::string& need, const std::string& patient, const std::string& status,
                 const std::string& last_modified) {
  std::string s =
      R"({"resourceType":"Task","id":"t-)" + need + patient + R"(","identifier":[{"system":")" +
      kSystem + R"(","value":")" + need + "-" + Hex(patient) + R"(-task"}],"status":")" + status +
      R"(","for":{"reference":"Patient/)" + patient + R"("},"authoredOn":"2025-01-15T00:00:00Z")";
  if (!last_modified.empty()) s += R"(,"lastModified":")" + last_modified + "\"";
  return s + R"(,"meta":{"lastUpdated":"2025-02-01T00:00:00Z"}})";
}

TEST(ReferralStatusTest, StatusMaps) {
  for (const char* s : {"draft", "requested", "received", "ready", "on-hold"}) {
    EXPECT_EQ(StatusOfTask(s), ReferralStatus::kOpen) << s;
  }
  EXPECT_EQ(StatusOfTask("accepted"), ReferralStatus::kAccepted);
  EXPECT_EQ(StatusOfTask("in-progress"), ReferralStatus::kAccepted);
  EXPECT_EQ(StatusOfTask("completed"), ReferralStatus::kCompleted);
  EXPECT_EQ(StatusOfTask("rejected"), ReferralStatus::kRejected);
  EXPECT_EQ(StatusOfTask("cancelled"), ReferralStatus::kCancelled);
  EXPECT_EQ(StatusOfTask("failed"), ReferralStatus::kCancelled);
  EXPECT_EQ(StatusOfTask("entered-in-error"), std::nullopt);
  EXPECT_EQ(StatusOfServiceRequest("active"), ReferralStatus::kOpen);
  EXPECT_EQ(StatusOfServiceRequest("draft"), ReferralStatus::kOpen);
  EXPECT_EQ(StatusOfServiceRequest("completed"), ReferralStatus::kCompleted);
  EXPECT_EQ(StatusOfServiceRequest("revoked"), ReferralStatus::kCancelled);
  EXPECT_EQ(StatusOfServiceRequest("entered-in-error"), std::nullopt);
}

TEST(ReferralStatusTest, TaskStatusWinsDaysOpenAndPeriod) {
  ReferralReader reader(kSystem, fhir::TimeZone::Utc(), TheCatalog());
  // p1 food: Task completed 10 days after authoring.
  Feed(reader, Sr("food", "p1", "active"));
  Feed(reader, Task("food", "p1", "completed", "2025-01-25T06:00:00Z"));
  // p1 utilities: Task accepted: open until as-of.
  Feed(reader, Sr("utilities", "p1", "active"));
  Feed(reader, Task("utilities", "p1", "accepted", ""));
  // p2 transportation: Task rejected without lastModified: meta.lastUpdated (17 days).
  Feed(reader, Sr("transportation", "p2", "active"));
  Feed(reader, Task("transportation", "p2", "rejected", ""));
  // p2 food: the Task entered in error: the ServiceRequest's status counts (completed, closed
  // by its meta.lastUpdated 2025-03-01: 45 days).
  Feed(reader, Sr("food", "p2", "completed"));
  Feed(reader, Task("food", "p2", "entered-in-error", ""));
  // p3 interpreter: no Task; revoked. p4 interpreter: active.
  Feed(reader, Sr("interpreter", "p3", "revoked"));
  Feed(reader, Sr("interpreter", "p4", "active"));
  // Not ours: another system; an entered-in-error ServiceRequest; one authored before the
  // period; a Flag.
  Feed(reader, Sr("food", "p5", "active", "urn:other"));
  Feed(reader, Sr("housing-quality", "p5", "entered-in-error"));
  Feed(reader, Sr("utilities", "p5", "active", kSystem, "2024-12-31T23:59:59Z"));
  Feed(reader,
       R"({"resourceType":"Flag","identifier":[{"system":")" + kSystem +
           R"(","value":"food-p5"}],"status":"active","subject":{"reference":"Patient/p5"}})");

  // p6 housing-instability, written under the current identifier format (identifiers.h); a
  // format-2 value of p6 presented as p7's is not ours.
  NeedFlag flag;
  flag.patient_id = "p6";
  flag.need = "housing-instability";
  flag.evidence["QuestionnaireResponse/q6"] = "1";
  const std::string sr_value = ServiceRequestIdentifier(flag);
  for (const std::string patient : {"p6", "p7"}) {
    Feed(reader, R"({"resourceType":"ServiceRequest","identifier":[{"system":")" + kSystem +
                     R"(","value":")" + sr_value +
                     R"("}],"status":"active","subject":{"reference":"Patient/)" + patient +
                     R"("},"authoredOn":"2025-01-20"})");
  }
  Feed(
      reader,
      R"({"resourceType":"Task","identifier":[{"system":")" + kSystem + R"(","value":")" +
          TaskIdentifier(sr_value) +
          R"("}],"status":"accepted","for":{"reference":"Patient/p6"},"authoredOn":"2025-01-20"})");

  const auto by = reader.ByPatient(At("2025-01-01"), At("2025-07-01"), At("2025-02-14"));
  ASSERT_EQ(by.count("p5"), 0u);
  ASSERT_EQ(by.count("p7"), 0u);
  ASSERT_EQ(by.at("p6").size(), 1u);
  EXPECT_EQ(by.at("p6")[0].need, "housing-instability");
  EXPECT_EQ(by.at("p6")[0].status, ReferralStatus::kAccepted);
  ASSERT_EQ(by.at("p1").size(), 2u);
  EXPECT_EQ(by.at("p1")[0].need, "food");
  EXPECT_EQ(by.at("p1")[0].status, ReferralStatus::kCompleted);
  EXPECT_EQ(by.at("p1")[0].days_open, 10);
  EXPECT_EQ(by.at("p1")[1].need, "utilities");
  EXPECT_EQ(by.at("p1")[1].status, ReferralStatus::kAccepted);
  EXPECT_EQ(by.at("p1")[1].days_open, 30);  // to as-of 2025-02-14
  ASSERT_EQ(by.at("p2").size(), 2u);
  EXPECT_EQ(by.at("p2")[0].need, "food");
  EXPECT_EQ(by.at("p2")[0].status, ReferralStatus::kCompleted);
  EXPECT_EQ(by.at("p2")[0].days_open, 30);  // closed 2025-03-01, after as-of: capped
  EXPECT_EQ(by.at("p2")[1].status, ReferralStatus::kRejected);
  EXPECT_EQ(by.at("p2")[1].days_open, 17);
  ASSERT_EQ(by.at("p3").size(), 1u);
  EXPECT_EQ(by.at("p3")[0].status, ReferralStatus::kCancelled);
  EXPECT_EQ(by.at("p4")[0].status, ReferralStatus::kOpen);
  EXPECT_EQ(reader.WithInterpreterReferral(), (std::set<std::string>{"p4"}));
  // A period that ends before the referrals: none.
  EXPECT_TRUE(reader.ByPatient(At("2024-01-01"), At("2025-01-01"), At("2025-01-01")).count("p1") ==
              0);
}

// Issue 15 item 5: the loop fields of each referral. Authored 2025-01-15; as-of 2025-03-01.
TEST(ReferralStatusTest, LoopFieldsFromTheTaskAndTheLedger) {
  ReferralReader reader(kSystem, fhir::TimeZone::Utc(), TheCatalog());
  auto task = [](const std::string& need, const std::string& patient, const std::string& status,
                 const std::string& last_modified, const std::string& reason = "") {
    std::string t = Task(need, patient, status, last_modified);
    if (!reason.empty()) {
      t.insert(t.size() - 1, R"(,"statusReason":{"text":")" + reason + R"("})");
    }
    return t;
  };
  // p1 food: requested since authoring → stalled (7 days); p1 utilities: accepted 2025-02-25 →
  // accepted after 41 days, not stalled (4 days without a change).
  Feed(reader, Sr("food", "p1", "active"));
  Feed(reader, task("food", "p1", "requested", ""));
  Feed(reader, Sr("utilities", "p1", "active"));
  Feed(reader, task("utilities", "p1", "accepted", "2025-02-25T00:00:00Z"));
  // p2 food: in-progress since 2025-01-20 → stalled (40 days without a change).
  Feed(reader, Sr("food", "p2", "active"));
  Feed(reader, task("food", "p2", "in-progress", "2025-01-20T00:00:00Z"));
  // p3 food: rejected with a reason while our ServiceRequest is open → bounced; p3 utilities:
  // cancelled, but our ServiceRequest is revoked (we retracted it) → not bounced.
  Feed(reader, Sr("food", "p3", "active"));
  Feed(reader, task("food", "p3", "rejected", "2025-01-17T00:00:00Z", "No capacity"));
  Feed(reader, Sr("utilities", "p3", "revoked"));
  Feed(reader, task("utilities", "p3", "cancelled", "2025-01-18T00:00:00Z"));
  // p4 food: completed 2025-01-31; the ledger recorded it accepted 2025-01-19 → 4 and 16 days.
  // p4 utilities: failed, accepted before per the ledger only → accepted and bounced.
  Feed(reader, Sr("food", "p4", "completed"));
  Feed(reader, task("food", "p4", "completed", "2025-01-31T00:00:00Z"));
  Feed(reader, Sr("utilities", "p4", "active"));
  Feed(reader, task("utilities", "p4", "failed", "2025-02-10T00:00:00Z", "Moved away"));
  std::map<std::string, TaskHistory> history;
  history["food-" + Hex("p4") + "-task"].accepted = At("2025-01-19T00:00:00Z");
  history["utilities-" + Hex("p4") + "-task"].accepted = At("2025-01-25T00:00:00Z");
  // Without the ledger, p4 utilities was never accepted as far as the report knows.
  const auto bare = reader.ByPatient(At("2025-01-01"), At("2025-07-01"), At("2025-03-01"));
  EXPECT_FALSE(bare.at("p4")[1].reached_accepted);
  EXPECT_EQ(bare.at("p4")[0].days_to_acceptance, 16);  // the completion's date
  const auto by = reader.ByPatient(At("2025-01-01"), At("2025-07-01"), At("2025-03-01"),
                                   FunnelInputs{LoopConfig{}, &history});
  const ReferralRow& p1_food = by.at("p1")[0];
  EXPECT_TRUE(p1_food.stalled);
  EXPECT_FALSE(p1_food.reached_accepted);
  const ReferralRow& p1_util = by.at("p1")[1];
  EXPECT_FALSE(p1_util.stalled);
  EXPECT_TRUE(p1_util.reached_accepted);
  EXPECT_EQ(p1_util.days_to_acceptance, 41);
  EXPECT_TRUE(by.at("p2")[0].stalled);
  EXPECT_EQ(by.at("p2")[0].days_to_acceptance, 5);
  EXPECT_TRUE(by.at("p3")[0].bounced);
  EXPECT_EQ(by.at("p3")[0].bounce_status, "rejected");
  EXPECT_EQ(by.at("p3")[0].bounce_reason, "No capacity");
  EXPECT_FALSE(by.at("p3")[0].stalled);
  EXPECT_FALSE(by.at("p3")[1].bounced);
  const ReferralRow& p4_food = by.at("p4")[0];
  EXPECT_TRUE(p4_food.reached_accepted);
  EXPECT_EQ(p4_food.days_to_acceptance, 4);
  EXPECT_EQ(p4_food.days_to_completion, 16);
  const ReferralRow& p4_util = by.at("p4")[1];
  EXPECT_TRUE(p4_util.reached_accepted);
  EXPECT_EQ(p4_util.days_to_acceptance, 10);
  EXPECT_TRUE(p4_util.bounced);
  EXPECT_EQ(p4_util.bounce_status, "failed");
  EXPECT_EQ(p4_util.days_to_completion, std::nullopt);
}

}  // namespace
}  // namespace sdoh::report
