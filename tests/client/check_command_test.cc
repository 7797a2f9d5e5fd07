#include <cstdlib>
#include <sstream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "plugin/commands/check_command.h"
#include "plugin/setup/fhir_section.h"

namespace sdoh {
namespace {

fhir::Result<fhir::client::ClientConfig> Parse(const std::string& yaml) {
  return ClientConfigFromYaml(YAML::Load(yaml)["fhir"], "cfg.yaml");
}

TEST(FhirSectionTest, ReadsEveryKey) {
  auto c = Parse(R"(
fhir:
  base_url: https://ehr.example.org/fhir
  auth:
    type: smart_backend
    client_id: sdoh
    scope: system/Patient.rs
    private_key_file: /keys/k1.pem
    kid: k1
    alg: ES384
  tls: {verify: true, ca_file: /etc/ca.pem}
  timeouts: {connect_ms: 2000, total_ms: 30000}
  retry: {max_attempts: 5, base_delay_ms: 250, max_delay_ms: 8000, budget_ms: 20000}
  page_size: 50
  max_pages: 99
  max_response_bytes: 1048576
)");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->base_url, "https://ehr.example.org/fhir");
  EXPECT_EQ(c->auth.type, "smart_backend");
  ASSERT_EQ(c->auth.keys.size(), 1u);
  EXPECT_EQ(c->auth.keys[0].alg, "ES384");
  EXPECT_EQ(c->auth.keys[0].kid, "k1");
  EXPECT_EQ(c->transport.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(c->transport.verify_tls);
  EXPECT_EQ(c->transport.connect_timeout.count(), 2000);
  EXPECT_EQ(c->retry.max_attempts, 5);
  EXPECT_EQ(c->retry.budget.count(), 20000);
  EXPECT_EQ(c->page_size, 50);
  EXPECT_EQ(c->max_pages, 99);
  EXPECT_EQ(c->transport.max_response_bytes, 1048576u);
}

TEST(FhirSectionTest, ErrorsNameTheKeyAndLine) {
  auto typo = Parse("fhir:\n  base_url: http://x/fhir\n  retry: {max_atempts: 3}\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("fhir.retry.max_atempts: unknown key"), std::string::npos)
      << typo.status().message();
  EXPECT_NE(typo.status().message().find("cfg.yaml:3:"), std::string::npos);

  auto bad_int = Parse("fhir:\n  base_url: http://x/fhir\n  page_size: lots\n");
  ASSERT_FALSE(bad_int.ok());
  EXPECT_NE(bad_int.status().message().find("fhir.page_size: expected an integer"),
            std::string::npos);

  auto bad_alg = Parse(
      "fhir:\n  base_url: http://x/fhir\n  auth: {type: smart_backend, client_id: c, "
      "private_key_file: k.pem, kid: k, alg: HS256}\n");
  ASSERT_FALSE(bad_alg.ok());
  EXPECT_NE(bad_alg.status().message().find("fhir.auth.alg"), std::string::npos);

  auto bad_type = Parse("fhir:\n  base_url: http://x/fhir\n  auth: {type: magic}\n");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.status().message().find("fhir.auth.type"), std::string::npos);

  auto missing = Parse("fhir:\n  page_size: 3\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("fhir.base_url: required"), std::string::npos);
}

TEST(BuildClientTest, MissingSecretNamesTheKeyNotTheSecret) {
  fhir::client::ClientConfig c;
  c.base_url = "http://127.0.0.1:1/fhir";
  c.auth.type = "client_credentials";
  c.auth.client_id = "cid";
  c.auth.secret_env = "SDOH_TEST_SECRET_THAT_IS_NOT_SET";
  auto built = fhir::client::BuildClient(c);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().message.find("fhir.auth.secret_env"), std::string::npos);

  setenv("SDOH_TEST_SECRET_SET", "hunter2", 1);
  c.auth.secret_env = "SDOH_TEST_SECRET_SET";
  EXPECT_TRUE(fhir::client::BuildClient(c).ok());

  c.auth.type = "smart_backend";
  c.auth.keys = {{"/nonexistent/key.pem", "k1", "RS384"}};
  built = fhir::client::BuildClient(c);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().message.find("fhir.auth.private_key_file"), std::string::npos);
}

TEST(ScopeGrantsTest, V1V2AndWildcards) {
  EXPECT_TRUE(ScopeGrants("system/Task.cru", "Task", 'c'));
  EXPECT_FALSE(ScopeGrants("system/Task.cru", "Task", 'd'));
  EXPECT_FALSE(ScopeGrants("system/Task.cru", "Flag", 'c'));
  EXPECT_TRUE(ScopeGrants("system/Task.write", "Task", 'u'));
  EXPECT_FALSE(ScopeGrants("system/Task.read", "Task", 'c'));
  EXPECT_TRUE(ScopeGrants("system/Patient.read", "Patient", 's'));
  EXPECT_TRUE(ScopeGrants("openid system/*.*", "Flag", 'c'));
  EXPECT_TRUE(ScopeGrants("system/Observation.rs?category=survey", "Observation", 's'));
  EXPECT_FALSE(ScopeGrants("user/Task.cru patient/Task.*", "Task", 'c'));
  EXPECT_FALSE(ScopeGrants("", "Task", 'c'));
}

TEST(CheckCommandTest, UnreachableServerFailsWithAMessage) {
  fhir::client::ClientConfig c;
  c.base_url = "http://127.0.0.1:1/fhir";
  c.retry.max_attempts = 1;
  std::ostringstream out, err;
  EXPECT_EQ(RunCheckCommand(c, out, err), 1);
  EXPECT_NE(err.str().find("CapabilityStatement"), std::string::npos);
}

}  // namespace
}  // namespace sdoh
