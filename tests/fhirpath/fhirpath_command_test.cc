// Tests for `sdoh-bridge fhirpath` (plugin/fhirpath_command.h): output format and exit codes.
#include "plugin/commands/fhirpath_command.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace sdoh {
namespace {

struct CommandRun {
  int code;
  std::string out;
  std::string err;
};

CommandRun RunCommand(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  int code = RunFhirpathCommand(args);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {code, out.str(), err.str()};
}

std::string WriteTemp(const std::string& body) {
  std::string path = ::testing::TempDir() + "fhirpath_cli_resource.json";
  std::ofstream(path) << body;
  return path;
}

TEST(FhirpathCommandTest, PrintsTypedValues) {
  std::string path = WriteTemp(R"({"resourceType": "Observation", "status": "final",
    "valueQuantity": {"value": 1.50, "unit": "kg"}, "effectiveDateTime": "2016-03-28"})");
  CommandRun r = RunCommand({"status | value.value | effective", path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "[{\"type\":\"code\",\"value\":\"final\"},{\"type\":\"decimal\",\"value\":\"1.50\"},"
            "{\"type\":\"dateTime\",\"value\":\"2016-03-28\"}]\n");
}

TEST(FhirpathCommandTest, ElementsPrintAsFhirJsonWithNumbers) {
  std::string path = WriteTemp(R"({"resourceType": "Observation", "status": "final",
    "valueQuantity": {"value": 1.50, "unit": "kg"}})");
  CommandRun r = RunCommand({"value", path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[{\"type\":\"Quantity\",\"value\":{\"value\":1.50,\"unit\":\"kg\"}}]\n");
}

TEST(FhirpathCommandTest, ComputedValuesWithoutResource) {
  CommandRun r = RunCommand({"1 + 1 | true | 1.50 | @2024-01-01 | 4 days | 1.5 'mg'"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(
      r.out,
      "[{\"type\":\"integer\",\"value\":2},{\"type\":\"boolean\",\"value\":true},"
      "{\"type\":\"decimal\",\"value\":\"1.50\"},{\"type\":\"date\",\"value\":\"2024-01-01\"},"
      "{\"type\":\"Quantity\",\"value\":{\"value\":\"4\",\"unit\":\"days\"}},"
      "{\"type\":\"Quantity\",\"value\":{\"value\":\"1.5\",\"unit\":\"mg\"}}]\n");
}

TEST(FhirpathCommandTest, Variables) {
  CommandRun r = RunCommand({"%who & '!'", "--var", "who=world"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[{\"type\":\"string\",\"value\":\"world!\"}]\n");
}

TEST(FhirpathCommandTest, NowOption) {
  CommandRun r = RunCommand({"today()", "--now", "2024-05-01T23:30:00-02:00"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"type\":\"date\""), std::string::npos);
}

TEST(FhirpathCommandTest, SyntaxErrorExitsTwoWithPosition) {
  CommandRun r = RunCommand({"name.where(use = "});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("position 17"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(FhirpathCommandTest, EvaluationErrorExitsOne) {
  CommandRun r = RunCommand({"(1 | 2).single()"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("evaluation error"), std::string::npos) << r.err;
}

TEST(FhirpathCommandTest, BadInputs) {
  EXPECT_EQ(RunCommand({}).code, 2);
  EXPECT_EQ(RunCommand({"1", "/nonexistent/file.json"}).code, 1);
  EXPECT_EQ(RunCommand({"1", WriteTemp("{not json")}).code, 1);
  EXPECT_EQ(RunCommand({"1", "--bogus"}).code, 2);
  EXPECT_EQ(RunCommand({"--help"}).code, 0);
  // Deeply nested JSON neither crashes the parser nor the printer.
  std::string deep = "{\"resourceType\":\"Basic\",\"x\":" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  CommandRun r = RunCommand({"x.descendants().count() | %resource.count()", WriteTemp(deep)});
  EXPECT_EQ(r.code, 0) << r.err;
}

}  // namespace
}  // namespace sdoh
