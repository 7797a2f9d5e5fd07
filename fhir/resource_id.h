// FHIR resource ids and the references that name them (R4 §2.1.0.1 "id":
// [A-Za-z0-9\-\.]{1,64}). Ids end up in business identifiers, file names, URLs, logs and the
// terminal; only ids of this shape may get there (issue 13 #6).
#pragma once

#include <string>
#include <string_view>

namespace fhir {

inline constexpr size_t kMaxIdLength = 64;

// True when `id` is a valid FHIR id: 1 to 64 of A-Z a-z 0-9 '-' '.'. Rejects "/", "|", spaces,
// control and non-ASCII bytes. ".." alone is not rejected by the pattern, but no id made only
// of dots is accepted either ("." and ".." are path segments).
bool IsValidId(std::string_view id);

// A reference to a resource of one type, split: "Patient/1" (relative), "https://x/fhir/Patient/1"
// (absolute: base "https://x/fhir"), either with "/_history/<v>".
struct TypedReference {
  enum class Shape {
    kNone,  // does not name a resource of that type (empty, urn:uuid:, another type, "#x")
    kRelative,
    kAbsolute,
  };
  Shape shape = Shape::kNone;
  std::string_view base;  // absolute references: the part before "/<type>/<id>"
  std::string_view id;    // the raw id segment; may be invalid (check IsValidId)
};

// Splits `reference` when it names a `type` resource: the last "<type>/<id>" path segments
// (relative when the reference starts there, absolute when what precedes is a URL
// "scheme://..." ending in '/').
TypedReference SplitReference(std::string_view reference, std::string_view type);

// Canonical form of a service base for comparison: without trailing '/', scheme and host
// lower-case ("HTTPS://EHR.example/fhir/" == "https://ehr.example/fhir").
std::string NormalizeBase(std::string_view base);

}  // namespace fhir
