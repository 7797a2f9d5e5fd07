#include "fhir/cpu_quota.h"

#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace fhir {

namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r'))
    s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

std::optional<int64_t> Integer(std::string_view s) {
  s = Trim(s);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Mount {
  std::string root;   // the hierarchy's path this mount shows
  std::string point;  // where
};

// The cgroup mount of a hierarchy: v2 (`cgroup2`), or the v1 one whose options name `cpu`.
std::optional<Mount> FindMount(const std::string& mountinfo, bool v2) {
  std::istringstream lines(mountinfo);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const std::vector<std::string_view> head = Split(std::string_view(line).substr(0, dash), ' ');
    const std::vector<std::string_view> tail = Split(std::string_view(line).substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    if (v2) {
      if (tail[0] != "cgroup2") continue;
    } else {
      if (tail[0] != "cgroup") continue;
      bool cpu = false;
      for (std::string_view option : Split(Trim(tail[2]), ',')) cpu = cpu || option == "cpu";
      if (!cpu) continue;
    }
    return Mount{Unescape(head[3]), Unescape(head[4])};
  }
  return std::nullopt;
}

// Cores of one cgroup directory's limit, 0 when none.
size_t LimitAt(const ReadText& read, const std::string& dir, bool v2) {
  int64_t quota = -1, period = 0;
  if (v2) {
    const std::optional<std::string> max = read(dir + "/cpu.max");
    if (!max) return 0;
    const std::vector<std::string_view> fields = Split(Trim(*max), ' ');
    if (fields.size() != 2 || fields[0] == "max") return 0;
    quota = Integer(fields[0]).value_or(-1);
    period = Integer(fields[1]).value_or(0);
  } else {
    const std::optional<std::string> q = read(dir + "/cpu.cfs_quota_us");
    const std::optional<std::string> p = read(dir + "/cpu.cfs_period_us");
    if (!q || !p) return 0;
    quota = Integer(*q).value_or(-1);
    period = Integer(*p).value_or(0);
  }
  if (quota <= 0 || period <= 0) return 0;
  const int64_t cores = (quota + period - 1) / period;
  return static_cast<size_t>(cores > 0 ? cores : 1);
}

}  // namespace

size_t CgroupCpuLimit(const ReadText& read) {
  const std::optional<std::string> cgroup = read("/proc/self/cgroup");
  const std::optional<std::string> mountinfo = read("/proc/self/mountinfo");
  if (!cgroup || !mountinfo) return 0;
  // "0::<path>" for v2; "<id>:<controllers>:<path>" for v1.
  std::optional<std::string> v1_path, v2_path;
  std::istringstream lines(*cgroup);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string_view controllers = std::string_view(line).substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      v2_path = path;
      continue;
    }
    for (std::string_view c : Split(controllers, ',')) {
      if (c == "cpu") v1_path = path;
    }
  }
  const bool v2 = !v1_path.has_value();
  const std::optional<std::string>& path = v2 ? v2_path : v1_path;
  if (!path) return 0;
  const std::optional<Mount> mount = FindMount(*mountinfo, v2);
  if (!mount) return 0;
  // The cgroup's directory under the mount: its path less the mount's root.
  std::string relative = *path;
  if (mount->root != "/") {
    if (relative.compare(0, mount->root.size(), mount->root) != 0 ||
        (relative.size() > mount->root.size() && relative[mount->root.size()] != '/')) {
      return 0;  // a cgroup this mount does not show
    }
    relative.erase(0, mount->root.size());
  }
  if (relative.find("/..") != std::string::npos) return 0;
  if (!relative.empty() && relative[0] != '/') return 0;
  while (!relative.empty() && relative.back() == '/') relative.pop_back();
  size_t limit = 0;
  for (;;) {
    const size_t here = LimitAt(read, mount->point + relative, v2);
    if (here > 0 && (limit == 0 || here < limit)) limit = here;
    if (relative.empty()) return limit;
    relative.erase(relative.rfind('/'));
  }
}

size_t CgroupCpuLimit() {
  return CgroupCpuLimit([](const std::string& path) -> std::optional<std::string> {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    std::ostringstream text;
    text << f.rdbuf();
    if (f.bad()) return std::nullopt;
    return text.str();
  });
}

}  // namespace fhir
