// Which requests the transport must not re-send on its own (HttpRequest::at_most_once): only
// plain creates. The fault proxy test of a plain create on a reused connection found libcurl
// re-sending the POST after the connection was reset, which created a duplicate.
#include <gtest/gtest.h>

#include "fhir/client/fhir_client.h"
#include "tests/client/fakes.h"

namespace fhir::client {
namespace {

using testing::RetryRig;
using testing::ScriptedTransport;

TEST(AtMostOnceTest, OnlyPlainCreatesAreMarked) {
  RetryRig rig;
  rig.transport->handler = [](const HttpRequest&) -> ClientResult<HttpResponse> {
    return ScriptedTransport::Status(
        200, R"({"resourceType":"Bundle","type":"transaction-response","entry":[]})");
  };
  FhirClientOptions o;
  o.base_url = "https://ehr.test/fhir";
  FhirClient client(o, rig.retrying, nullptr);
  const std::string patient = R"({"resourceType":"Patient"})";
  ASSERT_TRUE(client.Create("Patient", patient).ok());
  ASSERT_TRUE(client.ConditionalCreate("Patient", patient, "identifier=a|b").ok());
  ASSERT_TRUE(client.Update("Patient", "1", patient).ok());
  ASSERT_TRUE(client.Get("Patient/1").ok());
  ASSERT_TRUE(client
                  .Transaction(R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]})")
                  .ok());
  ASSERT_TRUE(client
                  .Transaction(R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient",
       "ifNoneExist":"identifier=a|b"}}]})")
                  .ok());
  std::vector<bool> marked;
  for (const HttpRequest& r : rig.transport->requests) marked.push_back(r.at_most_once);
  EXPECT_EQ(marked, (std::vector<bool>{true, false, false, false, true, false}));
}

}  // namespace
}  // namespace fhir::client
