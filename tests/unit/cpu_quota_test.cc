// fhir::CgroupCpuLimit (issue 17: the default thread count under a container's CPU limit):
// cgroup v2 and v1 files as the kernel writes them, through a fake file reader.
#include "fhir/cpu_quota.h"

#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace fhir {
namespace {

class Files {
 public:
  Files& Add(const std::string& path, const std::string& text) {
    files_[path] = text;
    return *this;
  }
  size_t Limit() const {
    return CgroupCpuLimit([this](const std::string& path) -> std::optional<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return std::nullopt;
      return it->second;
    });
  }

 private:
  std::map<std::string, std::string> files_;
};

const char* kV2Mount =
    "22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
    "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate\n";

TEST(CgroupCpuLimitTest, V2QuotaIsRoundedUpToWholeCores) {
  Files f;
  f.Add("/proc/self/cgroup", "0::/system.slice/ehr.service\n")
      .Add("/proc/self/mountinfo", kV2Mount);
  f.Add("/sys/fs/cgroup/system.slice/ehr.service/cpu.max", "150000 100000\n");
  EXPECT_EQ(f.Limit(), 2u);
  f.Add("/sys/fs/cgroup/system.slice/ehr.service/cpu.max", "50000 100000\n");
  EXPECT_EQ(f.Limit(), 1u);
  f.Add("/sys/fs/cgroup/system.slice/ehr.service/cpu.max", "400000 100000\n");
  EXPECT_EQ(f.Limit(), 4u);
}

TEST(CgroupCpuLimitTest, NoLimitIsZero) {
  Files f;
  f.Add("/proc/self/cgroup", "0::/user.slice\n").Add("/proc/self/mountinfo", kV2Mount);
  EXPECT_EQ(f.Limit(), 0u) << "no cpu.max file (root cgroup, controller not enabled)";
  f.Add("/sys/fs/cgroup/user.slice/cpu.max", "max 100000\n");
  EXPECT_EQ(f.Limit(), 0u);
  f.Add("/sys/fs/cgroup/user.slice/cpu.max", "garbage\n");
  EXPECT_EQ(f.Limit(), 0u);
  f.Add("/sys/fs/cgroup/user.slice/cpu.max", "-5 100000\n");
  EXPECT_EQ(f.Limit(), 0u);
  EXPECT_EQ(Files().Limit(), 0u) << "no /proc files at all";
  Files no_mount;
  no_mount.Add("/proc/self/cgroup", "0::/user.slice\n").Add("/proc/self/mountinfo", "");
  EXPECT_EQ(no_mount.Limit(), 0u);
}

TEST(CgroupCpuLimitTest, AnAncestorsLimitBoundsItsChildren) {
  Files f;
  f.Add("/proc/self/cgroup", "0::/kubepods/pod1/app\n").Add("/proc/self/mountinfo", kV2Mount);
  f.Add("/sys/fs/cgroup/kubepods/pod1/app/cpu.max", "800000 100000\n");
  f.Add("/sys/fs/cgroup/kubepods/pod1/cpu.max", "200000 100000\n");
  f.Add("/sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
  EXPECT_EQ(f.Limit(), 2u);
  f.Add("/sys/fs/cgroup/cpu.max", "100000 100000\n");
  EXPECT_EQ(f.Limit(), 1u) << "the mount's own directory counts too";
}

TEST(CgroupCpuLimitTest, V1CpuHierarchyIsReadWhenTheControllerIsThere) {
  Files f;
  f.Add("/proc/self/cgroup",
        "9:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n");
  // The container's cgroup mounted as the hierarchy's root (docker without a cgroup namespace).
  f.Add("/proc/self/mountinfo",
        std::string(kV2Mount) +
            "35 30 0:30 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:15 - cgroup "
            "cgroup rw,cpu,cpuacct\n"
            "36 30 0:31 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n");
  f.Add("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "300000\n");
  f.Add("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  f.Add("/sys/fs/cgroup/cpu.max", "100000 100000\n");  // v2 is not where the controller is
  EXPECT_EQ(f.Limit(), 3u);
  f.Add("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  EXPECT_EQ(f.Limit(), 0u);
}

TEST(CgroupCpuLimitTest, V1NestedCgroupUnderARootMount) {
  Files f;
  f.Add("/proc/self/cgroup", "3:cpuset:/\n1:cpu:/batch/sdoh\n0::/\n");
  f.Add("/proc/self/mountinfo",
        "40 30 0:40 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "41 30 0:41 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n");
  f.Add("/sys/fs/cgroup/cpu/batch/sdoh/cpu.cfs_quota_us", "-1\n");
  f.Add("/sys/fs/cgroup/cpu/batch/sdoh/cpu.cfs_period_us", "100000\n");
  f.Add("/sys/fs/cgroup/cpu/batch/cpu.cfs_quota_us", "120000\n");
  f.Add("/sys/fs/cgroup/cpu/batch/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(f.Limit(), 2u);
}

TEST(CgroupCpuLimitTest, ACgroupTheMountDoesNotShowIsNoLimit) {
  Files f;
  f.Add("/proc/self/cgroup", "0::/other/place\n");
  f.Add("/proc/self/mountinfo", "30 25 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  f.Add("/sys/fs/cgroup/cpu.max", "100000 100000\n");
  EXPECT_EQ(f.Limit(), 0u);
  f.Add("/proc/self/cgroup", "0::/docker/abcdef\n");  // a prefix of the root, not under it
  EXPECT_EQ(f.Limit(), 0u);
  f.Add("/proc/self/cgroup", "0::/docker/abc\n");
  EXPECT_EQ(f.Limit(), 1u);
  f.Add("/proc/self/cgroup", "0::/../outside\n");
  EXPECT_EQ(f.Limit(), 0u);
}

TEST(CgroupCpuLimitTest, EscapedMountPointsAreUnescaped) {
  Files f;
  f.Add("/proc/self/cgroup", "0::/\n");
  f.Add("/proc/self/mountinfo", "30 25 0:26 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n");
  f.Add("/mnt/cg two/cpu.max", "200000 100000\n");
  EXPECT_EQ(f.Limit(), 2u);
}

}  // namespace
}  // namespace fhir
