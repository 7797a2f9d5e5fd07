// What every command loads first: the config, the mappings catalog and the compiled rules.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "fhir/status.h"
#include "plugin/rules/rules_engine.h"
#include "plugin/rules/ruleset.h"
#include "plugin/setup/catalog.h"
#include "plugin/setup/config.h"

namespace sdoh {

// Loaded once; const after load and shared by every thread, pass and CDS call (the catalog
// never changes: per-pass state lives in plugin/screening/pass_catalog.h).
struct Pipeline {
  Config config;
  std::unique_ptr<const Catalog> catalog;
  Ruleset ruleset;
};

// Loads config, mappings and rules. Every error is a config error (exit code 2) and names the
// file, line and key.
fhir::Result<Pipeline> LoadPipeline(const std::string& config_path);

// The pipeline a command runs on: the config at `config_path` (empty: DefaultConfigPath()),
// with the command line's `source` and `out` applied when not empty. On a config error, writes
// "sdoh-bridge: config error: ..." to `err` and returns nullopt (the command exits 2).
std::optional<Pipeline> LoadCommandPipeline(const std::string& config_path,
                                            const std::string& source, const std::string& out,
                                            std::ostream& err);

// One flags.ndjson line (without newline), per the documented format.
std::string FlagLine(const NeedFlag& flag, const std::string& ruleset_version);
// The same line appended to `out`.
void AppendFlagLine(const NeedFlag& flag, const std::string& ruleset_version, std::string* out);

}  // namespace sdoh
