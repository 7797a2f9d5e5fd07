#include "fhir/memory_store.h"

#include "fhir/json.h"

namespace fhir {

void MemoryStore::Add(const rapidjson::Value& resource, std::string_view origin,
                      uint64_t position) {
  entries_.push_back({&resource, origin, position});
}

Status MemoryStore::ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  for (const std::string& type : types) {
    for (const Entry& e : entries_) {
      if (json::StrMember(*e.resource, "resourceType") != type) continue;
      ++stats_.resources;
      visitor.OnResource(type, *e.resource, SourceLocation{e.origin, e.position});
    }
  }
  return Status::Ok();
}

}  // namespace fhir
