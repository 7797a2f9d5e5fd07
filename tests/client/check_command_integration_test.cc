#include <sstream>

#include <gtest/gtest.h>

#include "plugin/commands/check_command.h"
#include "tests/client/fhir_server_env.h"

namespace sdoh {
namespace {

TEST(CheckCommandIntegrationTest, ReportsCapabilitiesAndTheFullWritebackPath) {
  REQUIRE_FHIR_SERVER();
  fhir::client::ClientConfig c;
  c.base_url = server->base_url();
  std::ostringstream out, err;
  EXPECT_EQ(RunCheckCommand(c, out, err), 0) << err.str();
  const std::string report = out.str();
  EXPECT_NE(report.find("CapabilityStatement: fhirVersion 4.0.1"), std::string::npos) << report;
  EXPECT_NE(report.find("SMART configuration: not available"), std::string::npos) << report;
  EXPECT_NE(report.find("Patient: read=yes search-type=yes"), std::string::npos) << report;
  EXPECT_NE(report.find("Task: create=yes update=yes search-type=yes"), std::string::npos)
      << report;
  EXPECT_NE(report.find("Writeback path: ServiceRequest+Task+Flag"), std::string::npos) << report;
}

}  // namespace
}  // namespace sdoh
