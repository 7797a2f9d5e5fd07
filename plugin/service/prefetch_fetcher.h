// What a patient-view call's prefetch lacks, read from the call's `fhirServer` with its
// `fhirAuthorization` bearer token (CDS Hooks: "the service must fetch what is missing itself
// or return 412"; sdoh-codes.md §9). The queries are those `run` makes for one patient:
// Patient/<id>, QuestionnaireResponse?subject=…, Observation?subject=… (every page), open
// ServiceRequests, and the Questionnaires of mapped forms the catalog does not hold.
// Only allow-listed servers are contacted: a hook call cannot point the service elsewhere.
// Blocking (libcurl): called on the service's fetch threads, never on the HTTP threads.
// Thread-safe. The token is never logged nor put in an error message.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fhir/client/client_factory.h"
#include "fhir/status.h"
#include "plugin/service/cds_hooks.h"
#include "plugin/setup/catalog.h"

namespace sdoh::service {

struct PrefetchFetcherOptions {
  // Base URLs the service may read from (compared without a trailing '/').
  std::vector<std::string> allowed_servers;
  fhir::client::ClientConfig client;  // transport, retry, paging (base_url and auth ignored)
};

class PrefetchFetcher {
 public:
  // REQUIRES: `catalog` outlives the fetcher and is not modified meanwhile.
  PrefetchFetcher(PrefetchFetcherOptions options, const Catalog* catalog);

  bool Allowed(const std::string& fhir_server) const;
  // Fills every missing prefetch value of `call` (and the Questionnaires its QRs need), and
  // reads the Observations that a panel or group of the prefetch names in hasMember but the
  // prefetch lacks (at any depth, at most 500).
  // Errors name the query that failed (HTTP status, OperationOutcome codes), never the token.
  fhir::Status Fetch(HookCall* call);

 private:
  fhir::Result<std::shared_ptr<fhir::client::Client>> ClientFor(const std::string& base);

  PrefetchFetcherOptions options_;
  const Catalog* catalog_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<fhir::client::Client>> clients_;  // by base URL
};

}  // namespace sdoh::service
