// libFuzzer target: the CDS Hooks service's pure functions (issue 7, "Bad input"), no server:
//   - the bytes as a patient-view request body: service::EvaluatePatientView on the default
//     pipeline (SDOH_SOURCE_DIR/config/sdoh-bridge.yaml, loaded once), and as a feedback body
//     (service::ParseFeedback);
//   - the bytes as a bearer JWT: service::JwtVerifier::Verify with a fixed JWKS (one RS384 and
//     one ES384 public key, below), a fixed clock and a fresh verifier per input (the jti replay
//     cache would otherwise make runs depend on order).
// Every input must end in a status (200/400/412) or a rejection; crashes, sanitizer reports,
// hangs and leaks are bugs. The committed corpus holds request bodies built from samples/ and
// tokens signed with the test keys (the private halves are not kept).
//
// Run:   ./fuzz_cds_request -max_total_time=600 tests/fuzz/corpus/cds_request
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "plugin/service/cds_hooks.h"
#include "plugin/service/jwt_verifier.h"
#include "plugin/setup/pipeline.h"
#include "tests/fuzz/test_jwks.h"

namespace {

constexpr char kIssuer[] = "https://ehr.test";
constexpr char kAudience[] = "https://sdoh.test/cds-services/sdoh-bridge-patient-view";
constexpr int64_t kNowSeconds = 1700000000;  // the seed tokens expire at kNowSeconds + 600

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz_cds_request: %s\n", what.c_str());
  std::abort();
}

const sdoh::Pipeline& LoadedPipeline() {
  static sdoh::Pipeline* p = [] {
    auto loaded = sdoh::LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    if (!loaded.ok()) Die(loaded.status().message());
    return new sdoh::Pipeline(std::move(*loaded));
  }();
  return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  std::string input(reinterpret_cast<const char*>(data), size);

  const sdoh::Pipeline& pipeline = LoadedPipeline();
  (void)sdoh::service::EvaluatePatientView(pipeline, input, kNowSeconds * 1000000LL);
  (void)sdoh::service::ParseFeedback(input, 100);

  sdoh::service::JwtPolicy policy;
  policy.allowed_issuers = {kIssuer};
  auto verifier = sdoh::service::JwtVerifier::FromJwks(sdoh::fuzz::Jwks(), policy);
  if (!verifier.ok()) Die(verifier.status().message());
  (void)(*verifier)->Verify(input, kAudience, kNowSeconds);
  return 0;
}
