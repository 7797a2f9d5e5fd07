// libFuzzer target: NDJSON lines through the screening stage (issue 7, "Bad input").
//
// Input: one NDJSON line (or a few, split on '\n', at most 8). Each line is parsed with
// fhir::json::LineParser (the reader's parser and limits) and, when it parses, handed to one
// fresh ScreeningCollector as each of its input types (Questionnaire, QuestionnaireResponse,
// Observation, Patient); then Finish() and EvaluatePatient() run on every patient record. The
// default config (SDOH_SOURCE_DIR/config/sdoh-bridge.yaml) is loaded once. Any crash, sanitizer
// report or slow unit is a bug: bad resources must end in a skip reason, never a failure.
//
// Build (clang only): see tests/fuzz/CMakeLists.txt, or scripts/fuzz.sh.
// Run:   ./fuzz_ndjson_line -max_total_time=600 tests/fuzz/corpus/ndjson_line
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fhir/json.h"
#include "plugin/rules/rules_engine.h"
#include "plugin/screening/screening_collector.h"
#include "plugin/setup/pipeline.h"

namespace {

sdoh::Pipeline& LoadedPipeline() {
  static sdoh::Pipeline* p = [] {
    auto loaded = sdoh::LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    if (!loaded.ok()) {
      std::fprintf(stderr, "fuzz_ndjson_line: %s\n", loaded.status().message().c_str());
      std::abort();
    }
    return new sdoh::Pipeline(std::move(*loaded));
  }();
  return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  sdoh::Pipeline& p = LoadedPipeline();
  static fhir::json::LineParser* parser = new fhir::json::LineParser(p.config.max_depth);

  sdoh::ScreeningOptions o;
  o.time_zone = p.config.time_zone;
  o.ruleset = &p.ruleset;
  o.now = 1700000000LL * 1000000;  // fixed: runs must be reproducible
  sdoh::ScreeningCollector collector(*p.catalog, o);

  std::string_view input(reinterpret_cast<const char*>(data), size);
  uint64_t line_no = 0;
  for (int n = 0; n < 8 && !input.empty(); ++n) {
    size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    ++line_no;
    for (const std::string& type : sdoh::ScreeningCollector::InputTypes()) {
      // In-situ parsing modifies the buffer: a fresh NUL-terminated copy per type.
      // Padded: RapidJSON's SSE2 scan reads whole 16-byte blocks (as fuzz_fhirpath does).
      std::string buf;
      buf.reserve(line.size() + 64);
      buf.assign(line);
      std::string error;
      auto failure = parser->Parse(buf.data(), buf.size(), &error);
      fhir::SourceLocation where{"fuzz.ndjson", line_no};
      if (failure != fhir::json::ParseFailure::kNone) {
        collector.OnUnreadable(type, where, fhir::json::ParseFailureName(failure), error);
        continue;
      }
      collector.OnResource(type, parser->document(), where);
    }
  }
  collector.Finish(
      [&](sdoh::PatientRecord& rec) { (void)sdoh::EvaluatePatient(p.ruleset, *p.catalog, rec); });
  return 0;
}
