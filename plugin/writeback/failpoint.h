// Named failpoints for crash tests (issue 5): when the environment variable SDOH_FAILPOINT
// names this point, the process ends at once with _exit(86) — no destructors, no flush — as a
// kill -9 would. "name:N" fires at the Nth hit. Unset: a no-op costing one getenv per call.
#pragma once

namespace sdoh::writeback {

constexpr int kFailpointExitCode = 86;

void Failpoint(const char* name);

}  // namespace sdoh::writeback
