// The Store seam: where resources come from. The pipeline reads through this interface only,
// so the same run works over an NDJSON folder or a FHIR server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/status.h"

namespace fhir {

// Where a resource was read: a file and line, or a URL and entry index.
struct SourceLocation {
  std::string_view origin;  // file path or request URL
  uint64_t position = 0;    // 1-based line number, or entry index in a page
};

class ResourceVisitor {
 public:
  virtual ~ResourceVisitor() = default;
  // One resource read while asking for `expected_type`. `resource` is valid only during the
  // call (its memory is reused for the next one).
  virtual void OnResource(std::string_view expected_type, const rapidjson::Value& resource,
                          const SourceLocation& where) = 0;
  // An input that could not be read as a resource: reason is a stable token
  // (malformed-json, invalid-utf8, too-deep, nul-byte, line-too-long, ...), detail says where.
  virtual void OnUnreadable(std::string_view expected_type, const SourceLocation& where,
                            std::string_view reason, const std::string& detail) = 0;
};

struct StoreStats {
  uint64_t bytes = 0;
  uint64_t resources = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Streams every resource of each type in `types`, in that order of types, to `visitor`.
  // A missing optional source of one type is not an error. Returns non-OK only when reading
  // cannot go on (I/O failure, server unreachable).
  virtual Status ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) = 0;
  virtual std::string Describe() const = 0;
  virtual StoreStats stats() const = 0;
};

}  // namespace fhir
