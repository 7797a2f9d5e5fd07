// `sdoh-bridge fhirpath 'EXPRESSION' [RESOURCE.json|-] [--var name=value]...`: evaluates a
// FHIRPath expression (fhir/fhirpath/engine.h) and prints the result collection as JSON,
// [{"type": "...", "value": ...}], on stdout.
//
// Exit status: 0 success, 1 evaluation error or unreadable resource, 2 syntax error or bad
// command line. Messages go to stderr.
#pragma once

#include <string>
#include <vector>

namespace sdoh {

// `args` are the words after `sdoh-bridge fhirpath`.
int RunFhirpathCommand(const std::vector<std::string>& args);

}  // namespace sdoh

// cli/main.cc calls the command unqualified.
using sdoh::RunFhirpathCommand;
