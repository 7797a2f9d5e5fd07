// Text codecs behind FHIRPath 2.1 encode()/decode() ("base64", "urlbase64", "hex") and
// escape()/unescape() ("html", "json"). All return nullopt for an unknown format or
// malformed input.
#ifndef SDOH_FHIR_FHIRPATH_STRING_CODECS_H_
#define SDOH_FHIR_FHIRPATH_STRING_CODECS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fhir::fhirpath {

std::optional<std::string> Encode(std::string_view s, std::string_view format);
std::optional<std::string> Decode(std::string_view s, std::string_view format);
std::optional<std::string> Escape(std::string_view s, std::string_view format);
std::optional<std::string> Unescape(std::string_view s, std::string_view format);

// Appends code point `cp` as UTF-8; values past U+10FFFF are dropped.
void AppendUtf8(uint32_t cp, std::string* out);

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_STRING_CODECS_H_
