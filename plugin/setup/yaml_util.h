// Helpers for loading YAML with errors that name file, line and key.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "fhir/status.h"

namespace sdoh {

// "file:line:col" for a node (1-based), or just "file" when the node has no position.
std::string Where(const std::string& file, const YAML::Node& node);

// Parses a YAML file; a syntax error becomes InvalidArgument "file:line:col: message".
fhir::Result<YAML::Node> LoadYamlFile(const std::string& path);

// A required scalar member as string; error names file, line and key.
fhir::Result<std::string> RequiredString(const std::string& file, const YAML::Node& map,
                                         const std::string& key);
// An optional scalar member as string (fallback when absent); error when not a scalar.
fhir::Result<std::string> OptionalString(const std::string& file, const YAML::Node& map,
                                         const std::string& key, const std::string& fallback);
// A sequence of scalars (a single scalar is read as a one-element list).
fhir::Result<std::vector<std::string>> StringList(const std::string& file, const YAML::Node& map,
                                                  const std::string& key, bool required);
// Rejects keys not in `allowed` (catches typos such as "instrumnet").
fhir::Status CheckKeys(const std::string& file, const YAML::Node& map,
                       const std::vector<std::string>& allowed, const std::string& what);

}  // namespace sdoh
