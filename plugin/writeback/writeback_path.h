// Which referral resources a FHIR server lets sdoh-bridge write: `check` reports it and `run`
// follows it. A type is writable when the CapabilityStatement lists create, update and
// search-type for it and, when the token's scopes are known, the scopes grant them too.
#pragma once

#include <set>
#include <string>

#include <rapidjson/document.h>

namespace sdoh {

struct WritebackPath {
  std::set<std::string> writable;  // of ServiceRequest, Task, Flag
  bool all() const { return writable.size() == 3; }
  bool none() const { return writable.empty(); }
  bool Allows(const std::string& type) const { return writable.count(type) != 0; }
  // "ServiceRequest+Task+Flag", "subset: ServiceRequest+Flag only", "none: dry run …".
  std::string Describe() const;
};

// `scopes`: the granted SMART scopes; empty = not known (no token, or the token response did
// not say), which then does not restrict.
WritebackPath ComputeWritebackPath(const rapidjson::Value& capability_statement,
                                   const std::string& scopes);

// Whether SMART scopes (space-separated; v1 "system/Task.write", v2 "system/Task.cru",
// wildcards "system/*.*") grant `letter` (c, r, u, d, s) on `type`.
bool ScopeGrants(const std::string& scopes, const std::string& type, char letter);

}  // namespace sdoh
