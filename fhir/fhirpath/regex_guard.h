// Internal: FHIRPath regular expressions (matches(), matchesFull(), replaceMatches()) on
// std::regex (ECMAScript), guarded: std::regex backtracks recursively, so patterns and inputs
// are screened before use. See README "Known limits".
#ifndef SDOH_FHIR_FHIRPATH_REGEX_GUARD_H_
#define SDOH_FHIR_FHIRPATH_REGEX_GUARD_H_

#include <cstddef>
#include <regex>
#include <string_view>

namespace fhir::fhirpath::internal {

// Longest input a regular expression is run on; callers fail above it.
constexpr size_t kMaxRegexInput = 8 * 1024;

// `pattern` compiled for an input of `input_length` characters, with '.' matching line
// breaks too (FHIRPath regexes run in single-line mode). Fails (EvalFailure) on patterns over
// 1 KiB, quantified quantifiers ("a**", "(a+)+"), repeat counts above 1000, back-references
// of three or more digits, more than one quantifier when len(input)^quantifiers exceeds ~1e7,
// and on invalid patterns.
std::regex MakeRegex(std::string_view pattern, size_t input_length);

}  // namespace fhir::fhirpath::internal

#endif  // SDOH_FHIR_FHIRPATH_REGEX_GUARD_H_
