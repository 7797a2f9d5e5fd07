#include "plugin/setup/yaml_util.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace sdoh {

std::string Where(const std::string& file, const YAML::Node& node) {
  if (!node.IsDefined()) return file;  // an invalid node throws on Mark()
  YAML::Mark m = node.Mark();
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

fhir::Result<YAML::Node> LoadYamlFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fhir::Status::NotFound(path + ": cannot open file");
  try {
    return YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return fhir::Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                         std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

fhir::Result<std::string> RequiredString(const std::string& file, const YAML::Node& map,
                                         const std::string& key) {
  // IsDefined() first: a missing key read from a const node is an invalid node, and every
  // other accessor of an invalid node throws.
  if (!map.IsDefined() || !map.IsMap()) {
    return fhir::Status::InvalidArgument(file + ": missing mapping with required key '" + key +
                                         "'");
  }
  YAML::Node v = map[key];
  if (!v) {
    return fhir::Status::InvalidArgument(Where(file, map) + ": missing required key '" + key + "'");
  }
  if (!v.IsScalar()) {
    return fhir::Status::InvalidArgument(Where(file, v) + ": key '" + key + "' must be a scalar");
  }
  return v.Scalar();
}

fhir::Result<std::string> OptionalString(const std::string& file, const YAML::Node& map,
                                         const std::string& key, const std::string& fallback) {
  if (!map.IsDefined() || !map.IsMap()) return fallback;
  YAML::Node v = map[key];
  if (!v || v.IsNull()) return fallback;
  if (!v.IsScalar()) {
    return fhir::Status::InvalidArgument(Where(file, v) + ": key '" + key + "' must be a scalar");
  }
  return v.Scalar();
}

fhir::Result<std::vector<std::string>> StringList(const std::string& file, const YAML::Node& map,
                                                  const std::string& key, bool required) {
  std::vector<std::string> out;
  YAML::Node v = map.IsDefined() && map.IsMap() ? map[key] : YAML::Node();
  if (!v || v.IsNull()) {
    if (required) {
      return fhir::Status::InvalidArgument(Where(file, map) + ": missing required key '" + key +
                                           "'");
    }
    return out;
  }
  if (v.IsScalar()) {
    out.push_back(v.Scalar());
    return out;
  }
  if (!v.IsSequence()) {
    return fhir::Status::InvalidArgument(Where(file, v) + ": key '" + key + "' must be a list");
  }
  for (const YAML::Node& item : v) {
    if (!item.IsScalar()) {
      return fhir::Status::InvalidArgument(Where(file, item) + ": items of '" + key +
                                           "' must be scalars");
    }
    out.push_back(item.Scalar());
  }
  return out;
}

fhir::Status CheckKeys(const std::string& file, const YAML::Node& map,
                       const std::vector<std::string>& allowed, const std::string& what) {
  if (!map.IsDefined() || !map.IsMap()) {
    return fhir::Status::InvalidArgument(Where(file, map) + ": " + what + " must be a mapping");
  }
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::ostringstream msg;
      msg << Where(file, kv.first) << ": unknown key '" << key << "' in " << what
          << " (expected one of:";
      for (const auto& a : allowed) msg << ' ' << a;
      msg << ')';
      return fhir::Status::InvalidArgument(msg.str());
    }
  }
  return fhir::Status::Ok();
}

}  // namespace sdoh
