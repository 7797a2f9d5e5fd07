// libFuzzer target: what a FHIR server answers (issue 7, surface 5), through the real client
// code with the network replaced at the HttpTransport seam (no sockets):
//   - the bytes as every page of a search: fhir::client::RestStore::ReadAll (SearchPager: self
//     link check, next-link loop detection, max_pages) into a real ScreeningCollector, then
//     Finish() + EvaluatePatient(); every entry resource also through
//     sdoh::writeback::ParseServerResource (how writeback reads the server's referrals);
//   - as a transaction-response Bundle: FhirClient::Transaction → per-entry status, location,
//     etag and OperationOutcome issues;
//   - as an error answer (HTTP 412): the OperationOutcome issues of ClientError, ToString();
//   - as a token response: OAuthTokenProvider::Authorization (client_credentials, HTTP 200 and
//     400), then a FHIR read that sends the token;
//   - as a CapabilityStatement and a SMART configuration: SupportedInteractions.
// The default config (SDOH_SOURCE_DIR/config/sdoh-bridge.yaml) is loaded once. Every input must
// end in a value or a ClientError; crashes, sanitizer reports, hangs and leaks are bugs.
//
// Build (clang only): tests/fuzz/CMakeLists.txt, or scripts/fuzz.sh.
// Run:   ./fuzz_fhir_response -max_total_time=600 tests/fuzz/corpus/fhir_response
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "fhir/client/auth.h"
#include "fhir/client/fhir_client.h"
#include "fhir/client/http_transport.h"
#include "fhir/client/rest_store.h"
#include "fhir/client/retry_policy.h"
#include "fhir/json.h"
#include "plugin/rules/rules_engine.h"
#include "plugin/screening/screening_collector.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/referral_policy.h"

namespace {

using namespace fhir::client;

constexpr char kBase[] = "http://fhir.test/fhir";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz_fhir_response: %s\n", what.c_str());
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

// Answers every request with `status` and the fuzz input as the body.
class BodyTransport : public HttpTransport {
 public:
  BodyTransport(std::string_view body, int status) : body_(body), status_(status) {}
  ClientResult<HttpResponse> Send(const HttpRequest&, std::chrono::milliseconds) override {
    if (++requests_ > 64) Die("more than 64 requests for one input (a paging loop?)");
    HttpResponse r;
    r.status = status_;
    r.body = std::string(body_);
    r.headers = {{"content-type", "application/fhir+json"},
                 {"date", "Tue, 14 Nov 2023 22:13:20 GMT"},
                 {"etag", "W/\"1\""},
                 {"location", std::string(kBase) + "/ServiceRequest/1/_history/1"}};
    return r;
  }
  int requests() const { return requests_; }

 private:
  std::string_view body_;
  int status_;
  int requests_ = 0;
};

class NoSleep : public Sleeper {
 public:
  void Sleep(std::chrono::milliseconds) override {}
};

std::shared_ptr<RetryingTransport> Retrying(std::shared_ptr<HttpTransport> t) {
  RetryOptions o;
  o.max_attempts = 1;
  return std::make_shared<RetryingTransport>(std::move(t), o, std::make_shared<SystemClock>(),
                                             std::make_shared<NoSleep>(),
                                             std::make_shared<SeededRandom>(1));
}

std::unique_ptr<FhirClient> MakeClient(std::string_view body, int status,
                                       std::shared_ptr<AuthProvider> auth = nullptr) {
  FhirClientOptions o;
  o.base_url = kBase;
  o.max_pages = 4;
  return std::make_unique<FhirClient>(o, Retrying(std::make_shared<BodyTransport>(body, status)),
                                      std::move(auth));
}

void SearchPages(std::string_view body) {
  const sdoh::Pipeline& p = LoadedPipeline();
  sdoh::ScreeningOptions so;
  so.time_zone = p.config.time_zone;
  so.ruleset = &p.ruleset;
  so.now = 1700000000LL * 1000000;  // fixed: runs must be reproducible
  sdoh::ScreeningCollector collector(*p.catalog, so);
  auto client = MakeClient(body, 200);
  RestStoreOptions ro;
  ro.page_size = 100;
  ro.max_pages = 4;
  ro.since = "2023-11-01T00:00:00Z";
  RestStore store(client.get(), ro);
  (void)store.ReadAll(sdoh::ScreeningCollector::InputTypes(), collector);
  (void)store.first_page_server_time();
  collector.Finish(
      [&](sdoh::PatientRecord& rec) { (void)sdoh::EvaluatePatient(p.ruleset, *p.catalog, rec); });

  // Writeback's reading of the server's ServiceRequests / Tasks / Flags.
  SearchPager pager = client->Pages("ServiceRequest", {{"subject", "Patient/p1"}});
  for (int i = 0; i < 4; ++i) {
    ClientResult<bool> more = pager.Next();
    if (!more.ok()) {
      (void)more.error().ToString();
      break;
    }
    if (!more.value()) break;
    (void)BundleLink(pager.page(), "self");
    if (const rapidjson::Value* entries = fhir::json::ArrayMember(pager.page(), "entry")) {
      for (const rapidjson::Value& e : entries->GetArray()) {
        if (const rapidjson::Value* r = fhir::json::Member(e, "resource")) {
          if (r->IsObject()) {
            (void)sdoh::writeback::ParseServerResource(*r, "urn:sdoh-bridge:referral");
          }
        }
      }
    }
  }
}

void TransactionResponse(std::string_view body) {
  auto client = MakeClient(body, 200);
  const std::string bundle =
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1",)"
      R"("resource":{"resourceType":"Flag","status":"active"},"request":{"method":"POST",)"
      R"("url":"Flag","ifNoneExist":"identifier=urn:x|food-p1"}}]})";
  ClientResult<BundleResult> r = client->Transaction(bundle);
  if (r.ok()) {
    for (const EntryResult& e : r->entries) {
      (void)e.location.size();
      for (const OutcomeIssue& i : e.issues) (void)i.diagnostics.size();
    }
  } else {
    (void)r.error().ToString();
  }
}

void ErrorResponse(std::string_view body) {
  auto client = MakeClient(body, 412);
  ClientResult<Response> r =
      client->Update("Flag", "1", R"({"resourceType":"Flag","id":"1"})", "W/\"1\"");
  if (!r.ok()) (void)r.error().ToString();
}

void TokenResponse(std::string_view body, int status) {
  OAuthOptions o;
  o.token_url = "http://fhir.test/token";
  o.client_id = "sdoh-bridge";
  o.client_secret = "not-a-secret";
  o.scope = "system/Patient.rs";
  auto auth = std::make_shared<OAuthTokenProvider>(
      o, Retrying(std::make_shared<BodyTransport>(body, status)));
  ClientResult<std::string> a = auth->Authorization();
  if (!a.ok()) {
    (void)a.error().ToString();
    return;
  }
  (void)auth->GrantedScope();
  auto client = MakeClient(R"({"resourceType":"Patient","id":"1"})", 200, auth);
  (void)client->Read("Patient", "1");
}

void Capabilities(std::string_view body) {
  auto client = MakeClient(body, 200);
  ClientResult<Response> cs = client->Capabilities();
  if (cs.ok() && cs->body) {
    for (const char* t : {"Patient", "ServiceRequest", "Task", "Flag"}) {
      (void)SupportedInteractions(*cs->body, t);
    }
  }
  ClientResult<Response> smart = client->SmartConfiguration();
  if (smart.ok() && smart->body) (void)fhir::json::StrMember(*smart->body, "token_endpoint");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  SearchPages(body);
  TransactionResponse(body);
  ErrorResponse(body);
  TokenResponse(body, 200);
  TokenResponse(body, 400);
  Capabilities(body);
  return 0;
}
