// fhir::Store over a FHIR server: for each type, a paged search
// (GET [base]/Type?_count=N[&_lastUpdated=ge<since>]) whose entries go to the visitor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fhir/client/fhir_client.h"
#include "fhir/store.h"

namespace fhir::client {

struct RestStoreOptions {
  int page_size = 100;
  int max_pages = 10000;  // per type; more is an error, never a silent truncation
  std::string since;      // FHIR instant; empty: everything. Not applied to Questionnaire.
  std::vector<std::string> types_without_since = {"Questionnaire"};
};

class RestStore : public fhir::Store {
 public:
  // REQUIRES: client outlives the store.
  RestStore(FhirClient* client, RestStoreOptions options);

  // Entries whose search.mode is "outcome" are skipped (a warning OperationOutcome);
  // "include" entries are passed with their own resourceType. An entry without a resource is
  // reported OnUnreadable("missing-resource"). Any client error stops reading (non-OK).
  Status ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) override;
  std::string Describe() const override;
  StoreStats stats() const override { return stats_; }
  // The server's time of the first page read (Bundle.meta.lastUpdated, else the Date header):
  // the watermark to use as the next `since`.
  const std::string& first_page_server_time() const { return first_page_server_time_; }

 private:
  FhirClient* client_;
  RestStoreOptions options_;
  StoreStats stats_;
  std::string first_page_server_time_;
};

}  // namespace fhir::client
