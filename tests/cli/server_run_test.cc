// `sdoh-bridge run --source <FHIR base URL>`: the whole job against the real FHIR test server
// (tests/fhir-server, Medplum packages on Node) loaded with the samples, giving exactly the
// hand-written expected flags — the same as from the NDJSON folder.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/client/client_factory.h"
#include "tests/support/server_samples.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
const std::string kSource = SDOH_SOURCE_DIR;

using sdoh::test::Lines;
using sdoh::test::ReadFile;

// The real FHIR test server (tests/support/test_support.h).
class Server : public sdoh::test::FhirServerProcess {
 public:
  Server() : FhirServerProcess(kSource) {}
};

int RunCli(const std::string& args, std::string* output) {
  sdoh::test::CliResult r = sdoh::test::RunBinary(SDOH_BRIDGE_BIN, args);
  *output = r.output;
  return r.exit_code;
}

TEST(ServerRunTest, RunAgainstTheFhirServerGivesTheSameFlagsAsTheFolder) {
  Server server;
  fhir::client::Client client;
  ASSERT_EQ(sdoh::test::StartAndConnect(server, &client), "");
  // Load the samples with their ids (PUT creates).
  size_t loaded = 0;
  for (const char* type : {"Questionnaire", "Patient", "QuestionnaireResponse", "Observation"}) {
    for (const std::string& line : Lines(ReadFile(kSource + "/samples/" + type + ".ndjson"))) {
      rapidjson::Document d;
      d.Parse(line.c_str());
      ASSERT_FALSE(d.HasParseError());
      auto r = client.fhir->Update(type, d["id"].GetString(), line, "");
      ASSERT_TRUE(r.ok()) << type << "/" << d["id"].GetString() << ": " << r.error().message;
      ++loaded;
    }
  }
  ASSERT_GT(loaded, 300u);

  fs::path out = fs::temp_directory_path() / ("sdoh-server-out-" + std::to_string(getpid()));
  std::string output;
  int code = RunCli("run --config " + kSource + "/config/sdoh-bridge.yaml --source " +
                        server.base_url() + " --out " + out.string(),
                    &output);
  ASSERT_EQ(code, 0) << output;
  std::vector<std::string> expected;
  for (const auto& l : Lines(ReadFile(kSource + "/samples/expected-flags.ndjson"))) {
    rapidjson::Document d;
    d.Parse(l.c_str());
    d.RemoveMember("why");
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    expected.push_back(sb.GetString());
  }
  EXPECT_EQ(Lines(ReadFile(out / "flags.ndjson")), expected);
  EXPECT_NE(output.find("folder"), 0u);
  fs::remove_all(out);
}

}  // namespace
