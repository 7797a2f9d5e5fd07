// Broken rule files are config errors naming the file (never a crash): found by fuzzing.
#include <filesystem>
#include <fstream>

#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

namespace fs = std::filesystem;

fhir::Status LoadRules(Harness&, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("ruleset-test-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(p) << text;
  auto catalog = Catalog::Load(std::string(SDOH_SOURCE_DIR) + "/mappings");
  auto r = Ruleset::Load({p.string()}, **catalog);
  fs::remove(p);
  return r.status();
}

TEST(RulesetTest, RuleFileWithoutRulesetKeyIsAConfigError) {
  Harness h;
  for (const char* text : {"rules: []\n", "{}\n", "[]\n", "ruleset: 3\nrules: []\n",
                           "ruleset: {id: x}\nrules: []\n", "ruleset: {id: x, version: '1'}\n"}) {
    fhir::Status s = LoadRules(h, text);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.code(), fhir::Status::Code::kInvalidArgument) << text;
    EXPECT_NE(s.message().find("ruleset-test-"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace sdoh::testing
