// fhir::Store over a FHIR server: for each type, a paged search
// (GET [base]/Type?_count=N[&_lastUpdated=ge<since>]) whose entries go to the visitor.
//
// Incremental with `refetch_changed_patients`: a resource changed since `since` says only that
// its patient must be looked at again — newest-wins, retraction and "no longer positive" need
// all of that patient's screenings. So the changed resources are read first only to collect
// their patients; then every such patient is read in full (Patient?_id=…,
// QuestionnaireResponse?subject=…, Observation?subject=…, a few patients per search) and only
// that goes to the visitor. A changed member Observation brings back its panel this way too
// (a panel only counts with members of the same subject). A changed resource whose patient
// cannot be told goes to the visitor as it is (it is then counted as skipped or ignored there).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <set>
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
  bool refetch_changed_patients = false;  // see above; only with `since`
  int patients_per_search = 40;
  // Pages fetched and parsed ahead on a thread of the search's own while the visitor takes the
  // current one (PagePrefetcher); 0: the caller's thread fetches. The visitor sees the same
  // resources, locations and errors in the same order either way.
  size_t pages_ahead = 0;
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
  // Phase 2 of the incremental refetch on its own, for changes learnt elsewhere (a Bulk Data
  // `_since` export, issue 16): every patient in `patients` in full, plus the changed `ids`
  // (type -> ids) the subject searches miss; types in `types_without_since` in full.
  Status ReadPatients(const std::set<std::string>& patients,
                      const std::map<std::string, std::set<std::string>>& ids,
                      const std::vector<std::string>& types, ResourceVisitor& visitor);
  // Incremental refetch: how many patients had a changed resource (and were read in full).
  uint64_t changed_patients() const { return changed_patients_; }

  // The patient id a screening or Patient resource belongs to ("" when it cannot be told):
  // Patient.id, else subject.reference as "Patient/<id>", a full URL ending so, or with
  // "/_history/<v>". Ids outside the FHIR id grammar give "".
  static std::string PatientOf(std::string_view type, const rapidjson::Value& resource);

 private:
  FhirClient* client_;
  RestStoreOptions options_;
  // Pages of one search, every entry's resource to `on_resource` (outcome entries skipped,
  // entries without a resource reported to `visitor`).
  template <typename OnResource>
  Status ReadSearch(const std::string& type, Params params, ResourceVisitor& visitor,
                    OnResource&& on_resource);
  // `type` is read in full even with `since` (options_.types_without_since).
  bool WithoutSince(const std::string& type) const;
  // One resource to the visitor, counted.
  void PassOn(const std::string& type, const rapidjson::Value& resource,
              const SourceLocation& where, ResourceVisitor& visitor);
  // ReadAll without refetch: each type's search (since `since`, if set) to the visitor.
  Status ReadEachType(const std::vector<std::string>& types, ResourceVisitor& visitor);
  // ReadAll with refetch, phase 1: what changed since `since`; only the patients and ids are
  // kept (a changed resource whose patient cannot be told goes to the visitor as it is).
  struct Changes;
  Status ReadChanges(const std::vector<std::string>& types, ResourceVisitor& visitor,
                     Changes* changes);
  // Phase 2: every changed patient in full (rest_store.cc).
  class PatientRefetch;

  StoreStats stats_;
  std::string first_page_server_time_;
  uint64_t changed_patients_ = 0;
};

}  // namespace fhir::client
