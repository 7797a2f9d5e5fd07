// Text codecs behind FHIRPath 2.1 encode()/decode() ("base64", "urlbase64", "hex") and
// escape()/unescape() ("html", "json"). All return nullopt for an unknown format or
// malformed input.
#ifndef SDOH_FHIR_FHIRPATH_STRING_CODECS_H_
#define SDOH_FHIR_FHIRPATH_STRING_CODECS_H_

#include <optional>
#include <string>
#include <string_view>

namespace fhir::fhirpath {

std::optional<std::string> Encode(std::string_view s, std::string_view format);
std::optional<std::string> Decode(std::string_view s, std::string_view format);
std::optional<std::string> Escape(std::string_view s, std::string_view format);
std::optional<std::string> Unescape(std::string_view s, std::string_view format);

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_STRING_CODECS_H_
