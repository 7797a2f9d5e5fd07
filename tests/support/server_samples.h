// Loading samples/ into the real FHIR test server for integration tests: each type's NDJSON as
// transaction Bundles of PUTs (40 entries each), the resources' ids kept. Header-only; needs
// sdoh_fhir_client.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/client/client_factory.h"
#include "fhir/client/fhir_client.h"
#include "tests/support/test_support.h"

namespace sdoh::test {

// Starts the real FHIR test server and connects `client` to it. Returns "" on success, else what
// failed. CI installs the server (scripts/test.sh runs `npm ci`), so callers fail on an error
// rather than skip.
inline std::string StartAndConnect(FhirServerProcess& server, fhir::client::Client* client) {
  std::string why;
  if (!server.Start(&why)) return why;
  fhir::client::ClientConfig cc;
  cc.base_url = server.base_url();
  auto built = fhir::client::BuildClient(cc);
  if (!built.ok()) return built.error().message;
  *client = std::move(built.value());
  return "";
}

// The sample resources of `types` (in that order), only those of `patients` when given (a
// Patient by id, anything else by a `"reference":"Patient/<id>"`; Questionnaires always).
// Returns "" on success, else what failed.
inline std::string LoadSamples(fhir::client::FhirClient& client, const std::string& source_dir,
                               const std::vector<std::string>& types = {"Questionnaire", "Patient",
                                                                        "QuestionnaireResponse",
                                                                        "Observation"},
                               const std::set<std::string>& patients = {}) {
  for (const std::string& type : types) {
    std::vector<std::string> keep;
    for (const std::string& l : Lines(ReadFile(source_dir + "/samples/" + type + ".ndjson"))) {
      bool wanted = patients.empty() || type == "Questionnaire";
      for (const std::string& p : patients) {
        if (wanted) break;
        wanted = (type == "Patient" && l.find("\"id\":\"" + p + "\"") != std::string::npos) ||
                 l.find("\"reference\":\"Patient/" + p + "\"") != std::string::npos;
      }
      if (wanted) keep.push_back(l);
    }
    for (size_t i = 0; i < keep.size(); i += 40) {
      std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
      for (size_t k = i; k < keep.size() && k < i + 40; ++k) {
        rapidjson::Document d;
        d.Parse(keep[k].c_str());
        if (d.HasParseError() || !d.IsObject() || !d.HasMember("id") || !d["id"].IsString()) {
          return type + ": a sample line without an id";
        }
        bundle += (k == i ? "" : ",") + std::string(R"({"resource":)") + keep[k] +
                  R"(,"request":{"method":"PUT","url":")" + type + "/" + d["id"].GetString() +
                  "\"}}";
      }
      bundle += "]}";
      auto r = client.Transaction(bundle);
      if (!r.ok()) return type + ": " + r.error().ToString();
    }
  }
  return "";
}

}  // namespace sdoh::test
