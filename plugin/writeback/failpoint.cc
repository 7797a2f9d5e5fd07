#include "plugin/writeback/failpoint.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace sdoh::writeback {

void Failpoint(const char* name) {
  const char* env = std::getenv("SDOH_FAILPOINT");
  if (env == nullptr || *env == '\0') return;
  std::string spec(env);
  long nth = 1;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    nth = std::strtol(spec.c_str() + colon + 1, nullptr, 10);
    spec.resize(colon);
  }
  if (spec != name) return;
  static std::map<std::string, long> hits;
  if (++hits[spec] >= nth) _exit(kFailpointExitCode);
}

}  // namespace sdoh::writeback
