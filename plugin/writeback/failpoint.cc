#include "plugin/writeback/failpoint.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace sdoh::writeback {

namespace {

// Whether SDOH_FAILPOINT names `name` and this hit is the Nth or later.
bool Hit(const char* name) {
  const char* env = std::getenv("SDOH_FAILPOINT");
  if (env == nullptr || *env == '\0') return false;
  std::string spec(env);
  long nth = 1;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    nth = std::strtol(spec.c_str() + colon + 1, nullptr, 10);
    spec.resize(colon);
  }
  if (spec != name) return false;
  static std::map<std::string, long> hits;
  return ++hits[spec] >= nth;
}

}  // namespace

void Failpoint(const char* name) {
  if (Hit(name)) _exit(kFailpointExitCode);
}

bool FailpointFires(const char* name) { return Hit(name); }

}  // namespace sdoh::writeback
