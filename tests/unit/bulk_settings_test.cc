// `fhir.bulk:` (issue 16): defaults, every key read, broken values are config errors naming the
// key (and the file and line).
#include <string>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "fhir/ndjson_parallel.h"
#include "plugin/pass/source.h"
#include "plugin/setup/config.h"
#include "plugin/setup/fhir_section.h"

namespace sdoh {
namespace {

Config WithFhir(const std::string& yaml) {
  Config c;
  c.path = "cfg.yaml";
  c.source = "http://127.0.0.1:1/fhir";
  c.fhir = YAML::Load(yaml)["fhir"];
  return c;
}

std::string ErrorOf(const std::string& yaml) {
  auto r = BulkSettingsFromConfig(WithFhir(yaml));
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), fhir::Status::Code::kInvalidArgument);
  return r.status().message();
}

TEST(BulkSettingsTest, DefaultsWithoutTheSection) {
  for (const char* yaml : {"a: 1\n", "fhir:\n  page_size: 10\n", "fhir:\n  bulk:\n"}) {
    auto r = BulkSettingsFromConfig(WithFhir(yaml));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->level, "system");
    EXPECT_EQ(r->group, "");
    EXPECT_EQ(r->type_filter, "auto");
    EXPECT_EQ(r->kickoff, "auto");
    EXPECT_EQ(r->max_retry_after_seconds, 600);
    EXPECT_EQ(r->download_parallelism, 2);
  }
}

TEST(BulkSettingsTest, EveryKeyIsRead) {
  auto r = BulkSettingsFromConfig(
      WithFhir("fhir:\n  bulk:\n    level: group\n    group: everyone\n    type_filter: off\n"
               "    kickoff: post\n    max_retry_after_seconds: 30\n"
               "    download_parallelism: 4\n"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->level, "group");
  EXPECT_EQ(r->group, "everyone");
  EXPECT_EQ(r->type_filter, "off");
  EXPECT_EQ(r->kickoff, "post");
  EXPECT_EQ(r->max_retry_after_seconds, 30);
  EXPECT_EQ(r->download_parallelism, 4);
  auto p = BulkSettingsFromConfig(WithFhir("fhir:\n  bulk:\n    level: patient\n"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->level, "patient");
  // A group alone means a Group-level export.
  auto g = BulkSettingsFromConfig(WithFhir("fhir:\n  bulk:\n    group: g1\n"));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->level, "group");
}

TEST(BulkSettingsTest, BrokenValuesAreConfigErrorsNamingTheKey) {
  EXPECT_EQ(ErrorOf("fhir:\n  bulk:\n    kickoff: put\n"),
            "cfg.yaml:3:14: fhir.bulk.kickoff: 'put' is not one of auto, get, post");
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    level: everyone\n")
                .find("fhir.bulk.level: 'everyone' is not one of system, patient, group"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    type_filter: maybe\n").find("fhir.bulk.type_filter"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    level: group\n").find("fhir.bulk.group: required"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    level: system\n    group: g\n").find("fhir.bulk.group"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    max_retry_after_seconds: soon\n")
                .find("fhir.bulk.max_retry_after_seconds: expected an integer"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    max_retry_after_seconds: 0\n")
                .find("fhir.bulk.max_retry_after_seconds: must be at least 1"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    download_parallelism: 0\n")
                .find("fhir.bulk.download_parallelism"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    download_parallelism: 64\n")
                .find("fhir.bulk.download_parallelism: must be at most 16"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk:\n    parallel: 2\n").find("fhir.bulk.parallel: unknown key"),
            std::string::npos);
  EXPECT_NE(ErrorOf("fhir:\n  bulk: [1]\n").find("fhir.bulk: expected a mapping"),
            std::string::npos);
}

// Issue 17: the files of an export are parsed on the run's threads, like a folder source's
// (`threads:` / --threads, else the cores the process may use).
TEST(BulkSettingsTest, ExportFilesAreParsedOnTheRunsThreads) {
  for (size_t threads : {size_t{0}, size_t{1}, size_t{3}}) {
    Config c = WithFhir("a: 1\n");
    c.threads = threads;
    auto source = Source::Open(c);
    ASSERT_TRUE(source.ok()) << source.status().message();
    (*source)->UseBulk({});
    (*source)->store();
    ASSERT_NE((*source)->bulk(), nullptr);
    EXPECT_EQ((*source)->bulk()->options().ndjson.threads,
              threads == 0 ? fhir::AvailableCores() : threads);
  }
}

}  // namespace
}  // namespace sdoh
