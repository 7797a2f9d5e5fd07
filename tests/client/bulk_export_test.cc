// fhir/client/bulk_export: kick-off URL, manifest parsing, the token rule on downloads and
// redirects, the Retry-After cap, the CapabilityStatement's $export levels (issue 16). The
// whole export against the real test server: tests/fhir-server/bulk_test.sh.
#include "fhir/client/bulk_export.h"

#include <gtest/gtest.h>

#include "fhir/json.h"
#include "tests/client/fakes.h"

namespace fhir::client {
namespace {

using testing::RetryRig;
using testing::ScriptedTransport;

constexpr const char* kBase = "https://ehr.example/fhir";

struct Rig {
  RetryRig retry;
  std::shared_ptr<FhirClient> client;
  Rig() {
    FhirClientOptions o;
    o.base_url = kBase;
    client = std::make_shared<FhirClient>(o, retry.retrying, std::make_shared<BearerAuth>("tok"));
  }
  ScriptedTransport& transport() { return *retry.transport; }
};

rapidjson::Document Parse(const char* text) {
  rapidjson::Document d;
  d.Parse(text);
  return d;
}

TEST(BulkExportTest, KickOffUrlAlwaysNamesTheTypesAndSinceWhenSet) {
  Rig rig;
  BulkExportOptions o;
  o.level = "group";
  o.group_id = "g 1";
  o.since = "2026-01-01T00:00:00Z";
  BulkExportClient c(rig.client.get(), o);
  const std::string url = c.KickOffUrl(true);
  EXPECT_EQ(url.rfind(std::string(kBase) + "/Group/g%201/$export?", 0), 0u) << url;
  EXPECT_NE(url.find("_type=Patient%2CQuestionnaireResponse%2CObservation%2CQuestionnaire"),
            std::string::npos)
      << url;
  EXPECT_NE(url.find("_since=2026-01-01T00%3A00%3A00Z"), std::string::npos) << url;
}

TEST(BulkExportTest, KickOffSendsPreferRespondAsyncAndReturnsTheStatusUrl) {
  Rig rig;
  rig.transport().script.push_back(ScriptedTransport::Status(
      202, "", {{"content-location", std::string(kBase) + "/$export-status/7"}}));
  BulkExportClient c(rig.client.get(), {});
  auto r = c.KickOff();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r.value(), std::string(kBase) + "/$export-status/7");
  EXPECT_EQ(FindHeader(rig.transport().requests[0].headers, "Prefer"), "respond-async");
}

TEST(BulkExportTest, PostKickOffAfterA405CarriesTheSameParametersInAParametersBody) {
  Rig rig;
  rig.transport().script.push_back(ScriptedTransport::Status(405, ""));
  rig.transport().script.push_back(ScriptedTransport::Status(
      202, "", {{"content-location", std::string(kBase) + "/$export-status/8"}}));
  BulkExportOptions o;
  o.since = "2026-01-01T00:00:00Z";
  o.type_filters = {"Observation?code=http://loinc.org|71802-3"};
  BulkExportClient c(rig.client.get(), o);
  auto r = c.KickOff();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(c.kickoff_posted());
  EXPECT_TRUE(c.type_filter_sent());
  ASSERT_EQ(rig.transport().requests.size(), 2u);
  const HttpRequest& post = rig.transport().requests[1];
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.url, std::string(kBase) + "/$export");
  EXPECT_EQ(FindHeader(post.headers, "Prefer"), "respond-async");
  EXPECT_EQ(
      post.body,
      R"({"resourceType":"Parameters","parameter":[)"
      R"({"name":"_type","valueString":"Patient,QuestionnaireResponse,Observation,Questionnaire"},)"
      R"({"name":"_since","valueInstant":"2026-01-01T00:00:00Z"},)"
      R"({"name":"_typeFilter","valueString":"Observation?code=http://loinc.org|71802-3"}]})");
}

TEST(BulkExportTest, TypeFilterOnRefusedIsAnErrorOffSendsNone) {
  Rig rig;
  rig.transport().script.push_back(ScriptedTransport::Status(400, ""));
  BulkExportOptions o;
  o.type_filters = {"Observation?code=http://loinc.org|71802-3"};
  o.type_filter = "on";
  BulkExportClient on(rig.client.get(), o);
  auto r = on.KickOff();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("fhir.bulk.type_filter is on"), std::string::npos)
      << r.error().message;
  o.type_filter = "off";
  BulkExportClient off(rig.client.get(), o);
  EXPECT_EQ(off.KickOffUrl(true).find("_typeFilter"), std::string::npos);
  o.type_filter = "auto";
  BulkExportClient with(rig.client.get(), o);
  EXPECT_NE(with.KickOffUrl(true).find("_typeFilter"), std::string::npos);
}

TEST(BulkExportTest, ManifestNeedsRequiresAccessTokenAndListsDeletedAndErrors) {
  auto bad = ParseBulkManifest(Parse(R"({"transactionTime":"2026-01-01T00:00:00Z","output":[]})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("requiresAccessToken"), std::string::npos);
  auto m = ParseBulkManifest(Parse(R"({"transactionTime":"t","requiresAccessToken":false,
    "output":[{"type":"Patient","url":"https://f/1","count":3}],
    "deleted":[{"type":"Bundle","url":"https://f/2"}],
    "error":[{"type":"OperationOutcome","url":"https://f/3"}]})"));
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_FALSE(m->requires_access_token);
  ASSERT_EQ(m->output.size(), 1u);
  EXPECT_EQ(m->output[0].count, 3);
  EXPECT_EQ(m->deleted.size(), 1u);
  EXPECT_EQ(m->error.size(), 1u);
}

TEST(BulkExportTest, TokenOnlyWhenRequiredAndNeverAcrossARedirectToAnotherOrigin) {
  Rig rig;
  rig.transport().handler = [](const HttpRequest& r) -> ClientResult<HttpResponse> {
    if (r.url.find("/f/1") != std::string::npos) {
      return ScriptedTransport::Status(307, "", {{"location", "https://cdn.example/x/1"}});
    }
    return ScriptedTransport::Status(200, "{}\n");
  };
  BulkExportClient c(rig.client.get(), {});
  ASSERT_TRUE(c.Download(std::string(kBase) + "/f/1", true).ok());
  ASSERT_EQ(rig.transport().requests.size(), 2u);
  EXPECT_EQ(FindHeader(rig.transport().requests[0].headers, "Authorization"), "Bearer tok");
  EXPECT_EQ(rig.transport().requests[1].url, "https://cdn.example/x/1");
  EXPECT_EQ(FindHeader(rig.transport().requests[1].headers, "Authorization"), "");
  ASSERT_TRUE(c.Download(std::string(kBase) + "/f/2", false).ok());
  EXPECT_EQ(FindHeader(rig.transport().requests[2].headers, "Authorization"), "");
}

TEST(BulkExportTest, RetryAfterOverTheCapStopsWithAClearMessage) {
  Rig rig;
  rig.transport().script.push_back(ScriptedTransport::Status(202, "", {{"retry-after", "7200"}}));
  BulkExportOptions o;
  o.max_retry_after = std::chrono::seconds(600);
  BulkExportClient c(rig.client.get(), o);
  auto r = c.WaitForManifest(std::string(kBase) + "/$export-status/1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("7200 s"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("max_retry_after"), std::string::npos);
}

TEST(BulkExportTest, ExportSupportReadsTheThreeLevels) {
  auto cs = Parse(R"({"rest":[{"mode":"server",
    "operation":[{"name":"export","definition":"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}],
    "resource":[{"type":"Patient","operation":[{"name":"export",
      "definition":"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"}]},
      {"type":"Group"}]}]})");
  BulkExportSupport s = ExportSupport(cs);
  EXPECT_TRUE(s.system);
  EXPECT_TRUE(s.patient);
  EXPECT_FALSE(s.group);
}

}  // namespace
}  // namespace fhir::client
