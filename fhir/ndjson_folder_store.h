// A Store over a folder of FHIR NDJSON files (Bulk Data style): <dir>/<Type>.ndjson, one
// resource per line, streamed and parsed in place one line at a time — or, with `threads` > 1,
// parsed ahead by that many threads (fhir/ndjson_parallel.h). Either way the visitor is called
// on the caller's thread, line by line in file order, with the same locations and results.
#pragma once

#include <string>
#include <vector>

#include "fhir/json.h"
#include "fhir/store.h"

namespace fhir {

class NdjsonFolderStore : public Store {
 public:
  struct Options {
    size_t max_line_bytes = 16u << 20;
    size_t max_depth = 64;
    size_t threads = 1;  // parsing threads; 1: the caller's thread parses
  };
  NdjsonFolderStore(std::string dir, Options options);

  Status ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) override;
  std::string Describe() const override { return "folder " + dir_; }
  StoreStats stats() const override { return stats_; }
  // Types whose file was absent in the last ReadAll.
  const std::vector<std::string>& missing_files() const { return missing_; }

 private:
  std::string dir_;
  Options options_;
  StoreStats stats_;
  std::vector<std::string> missing_;
};

// Streams the resources of one NDJSON file to `visitor` as `type`, line by line, parsed in place
// (unreadable lines to OnUnreadable): the folder store's reader, shared with the Bulk Data store
// (issue 16). NotFound when the file does not exist; adds to `stats`.
Status ReadNdjsonFile(const std::string& path, const std::string& type,
                      const NdjsonFolderStore::Options& options, ResourceVisitor& visitor,
                      StoreStats* stats);

}  // namespace fhir
