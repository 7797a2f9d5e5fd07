// A Store over resources already in memory (a CDS Hooks prefetch, a rule fixture): the same
// seam as the NDJSON folder and the REST store, so every front runs the one evaluation. The
// resources are borrowed: they must outlive the store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/store.h"

namespace fhir {

class MemoryStore : public Store {
 public:
  explicit MemoryStore(std::string description) : description_(std::move(description)) {}

  // REQUIRES: `resource` and `origin`'s characters outlive the store. A resource whose
  // resourceType is not asked for in ReadAll is not visited.
  void Add(const rapidjson::Value& resource, std::string_view origin, uint64_t position);

  // Visits the resources of each type in `types`, in that order of types and, within a type,
  // in the order they were added.
  Status ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) override;
  std::string Describe() const override { return description_; }
  StoreStats stats() const override { return stats_; }

 private:
  struct Entry {
    const rapidjson::Value* resource;
    std::string_view origin;
    uint64_t position;
  };
  std::string description_;
  std::vector<Entry> entries_;
  StoreStats stats_;
};

}  // namespace fhir
