// Load generator for `sdoh-bridge serve` with JWT verification on (bench/service_bench.sh):
// N keep-alive connections POST a patient-view call with full prefetch, each request with its
// own EHR JWT (ES384, fresh jti, aud = the service URL), signed before the timed window so the
// generator does not take the server's CPU while measuring. Reports requests/s and latency
// percentiles. A benchmark, not a test: it asserts nothing.
//
//   service_load --write-keys DIR            # DIR/es384.pem, DIR/rs384.pem, DIR/jwks.json
//   service_load --write-body FILE           # the hook call body (pat01 from samples/)
//   service_load --port P --key DIR/es384.pem --base URL [--alg ES384|RS384]
//                [--connections 4] [--seconds 10] [--tokens N]   # N pre-signed (default 40000)
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fhir/client/jwt.h"
#include "plugin/service/jwt_verifier.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

const std::string kSource = SDOH_SOURCE_DIR;
const std::string kIssuer = "https://ehr.bench.test";

std::vector<std::string> ReadLines(const std::string& file) {
  std::ifstream in(kSource + "/samples/" + file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The prefetch an EHR would send for `id`: Patient, QRs (+ Questionnaires), Observations, no
// open referrals (the same shape as tests/service).
std::string HookBody(const std::string& id) {
  std::string patient, qr, obs;
  auto add = [](std::string* b, const std::string& l) {
    *b += (b->empty() ? "" : ",") + std::string("{\"resource\":") + l + "}";
  };
  for (const auto& l : ReadLines("Patient.ndjson")) {
    if (l.find("\"id\":\"" + id + "\"") != std::string::npos) patient = l;
  }
  for (const auto& l : ReadLines("Questionnaire.ndjson")) add(&qr, l);
  const std::string subject = "\"subject\":{\"reference\":\"Patient/" + id + "\"";
  for (const auto& l : ReadLines("QuestionnaireResponse.ndjson")) {
    if (l.find(subject) != std::string::npos) add(&qr, l);
  }
  for (const auto& l : ReadLines("Observation.ndjson")) {
    if (l.find(subject) != std::string::npos) add(&obs, l);
  }
  auto bundle = [](const std::string& e) {
    return R"({"resourceType":"Bundle","type":"searchset","entry":[)" + e + "]}";
  };
  return R"({"hook":"patient-view","hookInstance":"b1","context":{"userId":"Practitioner/x",)"
         R"("patientId":")" +
         id + R"("},"prefetch":{"patient":)" + patient + ",\"qr\":" + bundle(qr) +
         ",\"obs\":" + bundle(obs) + ",\"openReferrals\":" + bundle("") + "}}";
}

std::string RandomHex(int bytes) {
  std::vector<unsigned char> b(static_cast<size_t>(bytes));
  RAND_bytes(b.data(), bytes);
  std::string out;
  char buf[3];
  for (unsigned char c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::string PemOf(EVP_PKEY* pkey) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return pem;
}

// An EC P-384 and an RSA 2048 key (kids es384 and rs384) and the JWKS with both public keys.
int WriteKeys(const std::string& dir) {
  std::string jwks;
  for (auto alg : {fhir::client::JwsAlg::kES384, fhir::client::JwsAlg::kRS384}) {
    const bool ec = alg == fhir::client::JwsAlg::kES384;
    EVP_PKEY* pkey = ec ? EVP_EC_gen("P-384") : EVP_RSA_gen(2048);
    if (pkey == nullptr) return 1;
    std::string pem = PemOf(pkey);
    const std::string kid = ec ? "es384" : "rs384";
    std::ofstream(dir + "/" + kid + ".pem") << pem;
    auto key = fhir::client::SigningKey::FromPem(pem, alg, kid);
    if (!key.ok()) return 1;
    auto jwk = sdoh::service::PublicJwkFromPem(key->PublicKeyPem(), kid, ec ? "ES384" : "RS384");
    if (!jwk.ok()) return 1;
    jwks += (jwks.empty() ? "" : ",") + *jwk;
  }
  std::ofstream(dir + "/jwks.json") << "{\"keys\":[" << jwks << "]}";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string key_file, base, write_keys, write_body, alg_name = "ES384";
  int port = 0, connections = 4, seconds = 10, tokens = 40000;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) {
      std::cerr << "service_load: " << a << " needs a value\n";
      return 2;
    }
    const std::string& v = args[i + 1];
    if (a == "--write-keys")
      write_keys = v;
    else if (a == "--write-body")
      write_body = v;
    else if (a == "--key")
      key_file = v;
    else if (a == "--alg")
      alg_name = v;
    else if (a == "--base")
      base = v;
    else if (a == "--port")
      port = std::stoi(v);
    else if (a == "--connections")
      connections = std::stoi(v);
    else if (a == "--seconds")
      seconds = std::stoi(v);
    else if (a == "--tokens")
      tokens = std::stoi(v);
    else {
      std::cerr << "service_load: unknown option " << a << "\n";
      return 2;
    }
    ++i;
  }
  if (!write_keys.empty()) return WriteKeys(write_keys);
  if (!write_body.empty()) {
    std::ofstream(write_body) << HookBody("pat01");
    return 0;
  }
  if (port == 0 || key_file.empty() || base.empty()) {
    std::cerr << "service_load: --port, --key and --base are required\n";
    return 2;
  }
  const bool ec = alg_name == "ES384";
  const std::string kid = ec ? "es384" : "rs384";
  auto key = fhir::client::SigningKey::FromPemFile(
      key_file, ec ? fhir::client::JwsAlg::kES384 : fhir::client::JwsAlg::kRS384, kid);
  if (!key.ok()) {
    std::cerr << "service_load: " << key.error().ToString() << "\n";
    return 1;
  }
  const std::string target = "/cds-services/sdoh-bridge-patient-view";
  const std::string body = HookBody("pat01");
  // Pre-signed tokens, one per request: fresh jti each, aud = the service URL.
  std::cerr << "signing " << tokens << " " << alg_name << " tokens..." << std::endl;
  std::vector<std::string> signed_tokens;
  signed_tokens.reserve(static_cast<size_t>(tokens));
  const long now = static_cast<long>(std::time(nullptr));
  const std::string header = fhir::client::Base64UrlEncode(
      R"({"alg":")" + alg_name + R"(","kid":")" + kid + R"(","typ":"JWT"})");
  auto sign_start = Clock::now();
  for (int i = 0; i < tokens; ++i) {
    std::string claims = R"({"iss":")" + kIssuer + R"(","aud":")" + base + target + R"(","iat":)" +
                         std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) +
                         R"(,"jti":")" + RandomHex(16) + R"("})";
    std::string input = header + "." + fhir::client::Base64UrlEncode(claims);
    auto sig = key->Sign(input);
    if (!sig.ok()) return 1;
    signed_tokens.push_back(input + "." + fhir::client::Base64UrlEncode(sig.value()));
  }
  double sign_s = std::chrono::duration<double>(Clock::now() - sign_start).count();
  std::cerr << "signed in " << sign_s << " s (" << tokens / sign_s << " signatures/s)\n";

  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(connections));
  std::vector<int> errors(static_cast<size_t>(connections), 0);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(seconds);
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      net::io_context ioc;
      net::ip::tcp::resolver resolver(ioc);
      beast::tcp_stream stream(ioc);
      stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
      beast::flat_buffer buffer;
      while (!stop && Clock::now() < deadline) {
        size_t i = next++;
        if (i >= signed_tokens.size()) break;
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        req.set(http::field::authorization, "Bearer " + signed_tokens[i]);
        req.keep_alive(true);
        req.body() = body;
        req.prepare_payload();
        auto t0 = Clock::now();
        http::write(stream, req);
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        latencies[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (res.result_int() != 200) ++errors[static_cast<size_t>(c)];
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  int errs = 0;
  for (size_t c = 0; c < latencies.size(); ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    errs += errors[c];
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf("requests %zu in %.2f s, non-200 %d\n", all.size(), elapsed, errs);
  std::printf("requests/s %.0f\n", all.size() / elapsed);
  std::printf("latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f\n", pct(0.50), pct(0.90), pct(0.99),
              all.empty() ? 0.0 : all.back());
  return 0;
}
