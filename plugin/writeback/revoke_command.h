// `sdoh-bridge revoke --run <run id>`: undoes everything one run wrote, from the ledger —
// its ServiceRequests revoked, its Tasks cancelled, its Flags entered-in-error (each a PUT
// with If-Match). Audited like any write. Exit 0 done; 1 a write failed; 2 config error;
// 4 another run holds the ledger.
#pragma once

#include <iosfwd>
#include <string>

namespace sdoh::writeback {

struct RevokeOptions {
  std::string config_path;
  std::string source;  // FHIR base URL; overrides the config
  std::string out;     // overrides the config's out (where the default ledger lives)
  std::string run_id;
};

int RevokeCommand(const RevokeOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sdoh::writeback
