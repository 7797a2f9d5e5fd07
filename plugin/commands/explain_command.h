// `sdoh-bridge explain --patient <id>`: for one patient, every counted and ignored screening
// with the reason, every rule that fired or not, and the evidence. Prints ids and codes only.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sdoh {

struct ExplainOptions {
  std::string config_path;
  std::string source;
  std::vector<std::string> patients;
};

int ExplainCommand(const ExplainOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sdoh
