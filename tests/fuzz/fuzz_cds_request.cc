// libFuzzer target: the CDS Hooks service's pure functions (issue 7, "Bad input"), no server:
//   - the bytes as a patient-view request body: service::EvaluatePatientView on the default
//     pipeline (SDOH_SOURCE_DIR/config/sdoh-bridge.yaml, loaded once), and as a feedback body
//     (service::FeedbackOutcomes);
//   - the bytes as a bearer JWT: service::JwtVerifier::Verify with a fixed JWKS (one RS384 and
//     one ES384 public key, below), a fixed clock and a fresh verifier per input (the jti replay
//     cache would otherwise make runs depend on order).
// With a compiler that cannot build cds_hooks.cc (clang < 16, see CMakeLists.txt) the target is
// built with SDOH_FUZZ_JWT_ONLY: only the JWT half runs.
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

#include "plugin/pipeline.h"
#include "plugin/service/jwt_verifier.h"
#ifndef SDOH_FUZZ_JWT_ONLY
#include "plugin/service/cds_hooks.h"
#endif

namespace {

constexpr char kRsaPublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtkJr05Ef8n6DrdhlrFvT
DlRKzYFVwohooEKV35wt1aQvwgcSeitB49OGJJ53wHYiAI5SGBRQerfU+yq1ekA+
UFxnBvA1V12afwv8whGsVaoUJ+UYr9FOL8NgZfqx9ExyMdQ+bJXCnOPwe5g63GUg
BM/GXrc9jb82uf2zCA4nhtDaOyaXWbHhSGbBwaBrnv2csR6F643TvnCKmzBR2ZWh
LZdvuevnWA6hFqiWKwzBBWfsjU96Oa3futsG1EZGPtDvJTr2QItXTWbEwNOTu9wa
02MZPkDH8ufglumIGDanylVMG/OCQytxtSA4tnqsxFmNT1RhoT15Kk+gI9Z65+dN
FwIDAQAB
-----END PUBLIC KEY-----
)";

constexpr char kEcPublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE7FPWMhs83Zpd7jS5Jze6KDhaY0kfWAuP
DlnOt6IKFpjeuxlFdBLIr/YAyU7UDF14nkpzlU9BFhieaBO9QHgxvQmq/ZzL0sAS
2xVzDXcApgNHqBBxk+cgjaQagjhu8KnY
-----END PUBLIC KEY-----
)";

constexpr char kIssuer[] = "https://ehr.test";
constexpr char kAudience[] = "https://sdoh.test/cds-services/sdoh-bridge-patient-view";
constexpr int64_t kNowSeconds = 1700000000;  // the seed tokens expire at kNowSeconds + 600

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz_cds_request: %s\n", what.c_str());
  std::abort();
}

#ifndef SDOH_FUZZ_JWT_ONLY
const sdoh::Pipeline& LoadedPipeline() {
  static sdoh::Pipeline* p = [] {
    auto loaded = sdoh::LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    if (!loaded.ok()) Die(loaded.status().message());
    return new sdoh::Pipeline(std::move(*loaded));
  }();
  return *p;
}
#endif

const std::string& Jwks() {
  static const std::string* jwks = [] {
    auto rsa = sdoh::service::PublicJwkFromPem(kRsaPublicPem, "rsa-1", "RS384");
    if (!rsa.ok()) Die(rsa.status().message());
    auto ec = sdoh::service::PublicJwkFromPem(kEcPublicPem, "ec-1", "ES384");
    if (!ec.ok()) Die(ec.status().message());
    return new std::string("{\"keys\":[" + *rsa + "," + *ec + "]}");
  }();
  return *jwks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  std::string input(reinterpret_cast<const char*>(data), size);

#ifndef SDOH_FUZZ_JWT_ONLY
  const sdoh::Pipeline& pipeline = LoadedPipeline();
  (void)sdoh::service::EvaluatePatientView(pipeline, input, kNowSeconds * 1000000LL);
  (void)sdoh::service::FeedbackOutcomes(input);
#endif

  sdoh::service::JwtPolicy policy;
  policy.allowed_issuers = {kIssuer};
  auto verifier = sdoh::service::JwtVerifier::FromJwks(Jwks(), policy);
  if (!verifier.ok()) Die(verifier.status().message());
  (void)(*verifier)->Verify(input, kAudience, kNowSeconds);
  return 0;
}
