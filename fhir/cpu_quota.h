// The CPU bandwidth limit of this process's cgroup, in cores (issue 17: the default thread
// count). A container run with `--cpus=2` on a 64-core host sees 64 cores in its affinity mask
// but gets two cores' worth of CPU time; 64 threads there run slower than two and each holds
// its parse chunks. So the default is the smaller of the two.
//
// cgroup v2: `cpu.max` ("max 100000", or "<quota> <period>"); cgroup v1: `cpu.cfs_quota_us`
// (-1: none) and `cpu.cfs_period_us`. The process's cgroup comes from /proc/self/cgroup, the
// hierarchy's mount from /proc/self/mountinfo; the limit is the smallest over the cgroup and its
// ancestors up to the mount's root (a parent's limit bounds its children), rounded up to whole
// cores. When the cpu controller is mounted in a v1 hierarchy that one is read, else v2's.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace fhir {

// A file's text, or nullopt when it cannot be read.
using ReadText = std::function<std::optional<std::string>(const std::string& path)>;

// The limit in whole cores (quota / period rounded up, at least 1), or 0 when no limit is set
// or it cannot be told (no cgroup files, a cgroup outside the mount, unreadable values).
size_t CgroupCpuLimit(const ReadText& read);
// The same, through the real files.
size_t CgroupCpuLimit();

}  // namespace fhir
