// `sdoh-bridge run --source <FHIR base URL>`: the whole job against the real FHIR test server
// (tests/fhir-server, Medplum packages on Node) loaded with the samples, giving exactly the
// hand-written expected flags — the same as from the NDJSON folder.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
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

  // Issue 17: with more than one thread the next pages of a search are fetched (and parsed)
  // ahead on a thread of their own while the run collects the current one. Small pages (7
  // entries: ~50 pages) so that every search is many pages; every output file of a dry run is
  // byte-identical at --threads 1 (fetching on the run's thread) and 3. The config is the
  // demo's with absolute paths and `fhir.page_size: 7`.
  std::string config = ReadFile(kSource + "/config/sdoh-bridge.yaml");
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"mappings: ../mappings",
                                            "mappings: " + kSource + "/mappings"},
        {"  - rules/sdoh-default.yaml", "  - " + kSource + "/config/rules/sdoh-default.yaml"}}) {
    size_t at = config.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    config.replace(at, from.size(), to);
  }
  fs::path work = sdoh::test::FreshTestDir("sdoh-server-threads", "pages-ahead");
  {
    std::ofstream f(work / "config.yaml");
    f << config << "\nfhir:\n  page_size: 7\n";
  }
  std::map<std::string, std::string> one;
  for (const char* threads : {"1", "3"}) {
    fs::path o = work / (std::string("out-") + threads);
    code = RunCli("run --config " + (work / "config.yaml").string() + " --source " +
                      server.base_url() + " --out " + o.string() +
                      " --dry-run --now 2025-01-15T00:00:00Z --threads " + threads,
                  &output);
    ASSERT_EQ(code, 0) << threads << ": " << output;
    std::map<std::string, std::string> files = sdoh::test::OutputsWithRunIdMasked(o);
    ASSERT_GE(files.size(), 3u) << o;
    EXPECT_NE(files["summary.json"].find("_count=7"), std::string::npos) << files["summary.json"];
    if (one.empty()) {
      one = std::move(files);
      continue;
    }
    ASSERT_EQ(files.size(), one.size());
    for (const auto& [name, text] : one) {
      EXPECT_TRUE(files[name] == text) << name << " differs at --threads " << threads;
    }
  }
  EXPECT_GT(Lines(one["flags.ndjson"]).size(), 10u);
  fs::remove_all(work);
}

}  // namespace
