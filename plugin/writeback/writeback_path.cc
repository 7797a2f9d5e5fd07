#include "plugin/writeback/writeback_path.h"

#include <sstream>
#include <utility>
#include <vector>

#include "fhir/client/fhir_client.h"

namespace sdoh {

bool ScopeGrants(const std::string& scopes, const std::string& type, char letter) {
  std::istringstream in(scopes);
  std::string scope;
  while (in >> scope) {
    size_t slash = scope.find('/');
    size_t dot = scope.find('.', slash == std::string::npos ? 0 : slash);
    if (slash == std::string::npos || dot == std::string::npos) continue;
    std::string context = scope.substr(0, slash);
    if (context != "system") continue;  // a backend service acts with system/ scopes
    std::string t = scope.substr(slash + 1, dot - slash - 1);
    std::string perms = scope.substr(dot + 1);
    size_t q = perms.find('?');  // v2 query restrictions narrow, but still grant the type
    if (q != std::string::npos) perms = perms.substr(0, q);
    if (t != "*" && t != type) continue;
    if (perms == "*") return true;
    if (perms == "read" && (letter == 'r' || letter == 's')) return true;
    if (perms == "write" && (letter == 'c' || letter == 'u' || letter == 'd')) return true;
    if (perms.find_first_not_of("cruds") == std::string::npos &&
        perms.find(letter) != std::string::npos) {
      return true;
    }
  }
  return false;
}

WritebackPath ComputeWritebackPath(const rapidjson::Value& capability_statement,
                                   const std::string& scopes) {
  static const std::vector<std::pair<const char*, char>> kInteractions = {
      {"create", 'c'}, {"update", 'u'}, {"search-type", 's'}};
  WritebackPath path;
  for (const char* type : {"ServiceRequest", "Task", "Flag"}) {
    std::set<std::string> supported =
        fhir::client::SupportedInteractions(capability_statement, type);
    bool all = true;
    for (const auto& [code, letter] : kInteractions) {
      if (supported.count(code) == 0 || (!scopes.empty() && !ScopeGrants(scopes, type, letter))) {
        all = false;
      }
    }
    if (all) path.writable.insert(type);
  }
  return path;
}

std::string WritebackPath::Describe() const {
  if (all()) return "ServiceRequest+Task+Flag";
  if (none()) return "none: dry run (no resources will be written)";
  std::string joined;
  for (const char* t : {"ServiceRequest", "Task", "Flag"}) {
    if (Allows(t)) joined += (joined.empty() ? "" : "+") + std::string(t);
  }
  return "subset: " + joined + " only";
}

}  // namespace sdoh
