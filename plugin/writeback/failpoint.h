// Named failpoints for crash tests (issue 5): when the environment variable SDOH_FAILPOINT
// names this point, the process ends at once with _exit(86) — no destructors, no flush — as a
// kill -9 would. "name:N" fires at the Nth hit. Unset: a no-op costing one getenv per call.
#pragma once

namespace sdoh::writeback {

constexpr int kFailpointExitCode = 86;

void Failpoint(const char* name);

// An error failpoint (issue 13): true from the Nth hit on ("name:N", default 1) when
// SDOH_FAILPOINT names this point, so the caller fails as if the operation had; false otherwise.
bool FailpointFires(const char* name);

}  // namespace sdoh::writeback
