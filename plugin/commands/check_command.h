// `sdoh-bridge check`: can this deployment talk to its FHIR server, and what may it do there?
// Fetches the CapabilityStatement and SMART configuration, obtains a token when auth is
// configured, prints the scopes granted, per resource type the product needs whether the
// server supports it, and which writeback path is possible.
#pragma once

#include <ostream>
#include <set>
#include <string>

#include "fhir/client/client_factory.h"
#include "plugin/writeback/writeback_path.h"  // ScopeGrants

namespace sdoh {

// 0: server reachable (and token obtained when auth is configured); 1 otherwise.
// A server that cannot take writes is not a failure: the report says "dry run".
int RunCheckCommand(const fhir::client::ClientConfig& config, std::ostream& out, std::ostream& err);

}  // namespace sdoh
