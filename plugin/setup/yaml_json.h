// Converts a YAML node to a RapidJSON value (for FHIR resources written in YAML fixtures).
// Plain scalars become booleans or numbers when they read as such; quoted scalars stay strings.
#pragma once

#include <rapidjson/document.h>
#include <yaml-cpp/yaml.h>

namespace sdoh {

void YamlToJson(const YAML::Node& node, rapidjson::Value& out,
                rapidjson::Document::AllocatorType& alloc);

}  // namespace sdoh
