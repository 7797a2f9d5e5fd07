#include "plugin/pass/directory_source.h"

#include "fhir/client/rest_store.h"
#include "fhir/ndjson_folder_store.h"
#include "plugin/setup/fhir_section.h"

namespace sdoh {

fhir::Result<std::unique_ptr<Directory>> LoadServiceDirectory(const Config& config) {
  if (config.directory.source.empty()) return std::unique_ptr<Directory>();
  DirectoryOptions options;
  options.require_language = config.directory.require_language;
  if (!config.directory.capacity_extension.empty()) {
    options.capacity_extension = config.directory.capacity_extension;
  }
  auto dir = std::make_unique<Directory>(options);
  std::unique_ptr<fhir::Store> store;
  fhir::client::Client client;
  if (IsServerSource(config.directory.source)) {
    Config server = config;
    server.source = config.directory.source;
    auto ro = BuildServerSource(server, &client);
    if (!ro.ok()) return ro.status();
    store = std::make_unique<fhir::client::RestStore>(client.fhir.get(), *ro);
  } else {
    store = std::make_unique<fhir::NdjsonFolderStore>(
        config.directory.source,
        fhir::NdjsonFolderStore::Options{config.max_line_bytes, config.max_depth, 1});
  }
  dir->source = store->Describe();
  if (fhir::Status s = store->ReadAll(Directory::InputTypes(), *dir); !s.ok()) {
    return fhir::Status::IoError("reading the service directory (directory.source) " +
                                 store->Describe() + " failed: " + s.message());
  }
  dir->Finish();
  return dir;
}

}  // namespace sdoh
