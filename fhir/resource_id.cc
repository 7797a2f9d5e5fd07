#include "fhir/resource_id.h"

#include <cctype>
#include <string>

#include "fhir/json.h"

namespace fhir {

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  bool only_dots = true;
  for (char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return false;
    if (c != '.') only_dots = false;
  }
  return !only_dots;
}

TypedReference SplitReference(std::string_view reference, std::string_view type) {
  TypedReference r;
  std::string_view id = json::ReferenceId(reference, type);
  if (id.empty()) return r;
  // ReferenceId found the last "<type>/" that starts a path segment; `id` points into
  // `reference`, so what precedes "<type>/" is the base (with its trailing '/').
  const size_t type_at = static_cast<size_t>(id.data() - reference.data()) - type.size() - 1;
  r.id = id;
  // After the id only "/_history/<version>" may follow; "Patient/a/b" or "Patient/../x" name no
  // valid id (the whole rest is returned, which IsValidId refuses).
  const size_t id_at = static_cast<size_t>(id.data() - reference.data());
  std::string_view rest = reference.substr(id_at + id.size());
  if (!rest.empty()) {
    constexpr std::string_view kHistory = "/_history/";
    if (!rest.starts_with(kHistory) || rest.size() == kHistory.size() ||
        rest.substr(kHistory.size()).find('/') != std::string_view::npos) {
      r.id = reference.substr(id_at);
    }
  }
  if (type_at == 0) {
    r.shape = TypedReference::Shape::kRelative;
    return r;
  }
  std::string_view base = reference.substr(0, type_at - 1);  // without the '/'
  if (base.find("://") == std::string_view::npos) return r;  // "x/Patient/1": not a reference
  r.shape = TypedReference::Shape::kAbsolute;
  r.base = base;
  return r;
}

std::string NormalizeBase(std::string_view base) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  std::string out(base);
  const size_t scheme_end = out.find("://");
  if (scheme_end == std::string::npos) return out;
  size_t host_end = out.find('/', scheme_end + 3);
  if (host_end == std::string::npos) host_end = out.size();
  for (size_t i = 0; i < host_end; ++i) {
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  }
  return out;
}

}  // namespace fhir
