// Where a pass reads: the one store factory every command uses. `config.source` names a FHIR
// server (REST client from the `fhir:` section, paged searches) or an NDJSON folder; later a
// Bulk Data export goes here too.
#pragma once

#include <memory>

#include "fhir/client/bulk_store.h"
#include "fhir/client/client_factory.h"
#include "fhir/client/rest_store.h"
#include "fhir/ndjson_folder_store.h"
#include "fhir/status.h"
#include "fhir/store.h"
#include "plugin/setup/config.h"

namespace sdoh {

class Source {
 public:
  // InvalidArgument (a config error naming the key) when the `fhir:` section is wrong. A
  // missing folder is reported when the store is read.
  static fhir::Result<std::unique_ptr<Source>> Open(const Config& config);

  bool is_server() const { return is_server_; }
  // The server's REST client; null for a folder.
  fhir::client::FhirClient* client() { return client_.fhir.get(); }
  // REST options: adjust (since, refetching) before the first store() call.
  fhir::client::RestStoreOptions& rest_options() { return rest_options_; }
  // Server source: read through a Bulk Data `$export` instead of paged searches (issue 16).
  // The export's `_since` is rest_options().since as it is when store() is first called; an
  // incremental export is completed per patient by the REST store (rest()).
  void UseBulk(fhir::client::BulkStoreOptions options) {
    bulk_options_ = std::move(options);
    use_bulk_ = true;
  }
  fhir::client::BulkStore* bulk() { return bulk_; }
  // The store (made on the first call).
  fhir::Store& store();
  fhir::client::RestStore* rest() { return rest_; }
  fhir::NdjsonFolderStore* folder() { return folder_; }
  // `threads:` (run --threads), else the cores the process may use: the threads parsing a
  // folder source or the files of a Bulk Data export, and evaluating the pass.
  size_t Threads() const;

 private:
  explicit Source(const Config& config) : config_(config) {}
  const Config& config_;
  bool is_server_ = false;
  fhir::client::Client client_;
  fhir::client::RestStoreOptions rest_options_;
  std::unique_ptr<fhir::Store> store_;
  fhir::client::RestStore* rest_ = nullptr;
  fhir::NdjsonFolderStore* folder_ = nullptr;
  bool use_bulk_ = false;
  fhir::client::BulkStoreOptions bulk_options_;
  std::unique_ptr<fhir::client::RestStore> completion_;
  fhir::client::BulkStore* bulk_ = nullptr;
};

}  // namespace sdoh
