// Namespace attempts: looking at what the host's namespaces would show. Each is stopped by its
// namespace alone (reading /proc, stat and uname are allowed by seccomp and Landlock), so each
// is what removing that namespace from the runner lets through: a view of the host, not a
// privilege (docs/sandbox.md). Escaped when the probe shares the test's namespace of that type
// (data.host_ns), with what that shows as the detail.
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cerrno>
#include <sstream>

#include "attempt.h"

namespace plugvisor::escape_probe {

namespace {

// `evidence` is what the host's namespace would show; it decides when /proc/self/ns cannot.
Outcome compare_ns(const Input& in, const std::string& type, const std::string& what,
                   const std::string& evidence, bool evidence_says_host) {
  const unsigned long long mine = own_ns(type), host = in.host_ns(type);
  std::string detail = evidence;
  if (mine != 0 && host != 0) {
    const bool same = mine == host;
    detail +=
        same ? "; in the host's " + what + " (" + std::to_string(host) + ")"
             : "; own " + what + " " + std::to_string(mine) + ", host's " + std::to_string(host);
    return same ? escaped(detail) : blocked(detail);
  }
  return evidence_says_host ? escaped(detail) : blocked(detail + " (no namespace inode)");
}

// The host's tree: the test's own directory (data.probe_dir) exists only there.
Outcome host_mount_ns(const Input& in) {
  const std::string dir = in.text("probe_dir");
  if (dir.empty()) return inconclusive("the test passed no probe_dir");
  struct stat st {};
  const bool seen = ::stat(dir.c_str(), &st) == 0;
  return compare_ns(in, "mnt", "mount namespace",
                    seen ? "stat " + dir + ": it exists (the host's tree is visible)"
                         : failed("stat " + dir, errno),
                    seen);
}

// The host's name (data.host_hostname) against the sandbox's own ("plugin-<id>").
Outcome host_uts_ns(const Input& in) {
  const std::string host = in.text("host_hostname");
  if (host.empty()) return inconclusive("the test passed no host_hostname");
  utsname u{};
  if (::uname(&u) != 0) return inconclusive(failed("uname", errno));
  const bool same = host == u.nodename;
  return compare_ns(in, "uts", "uts namespace",
                    std::string("hostname \"") + u.nodename + "\"" +
                        (same ? " is the host's" : ", the host's is \"" + host + "\""),
                    same);
}

// SysV IPC objects (seccomp denies the syscalls; /proc/sysvipc shows the reader's namespace).
Outcome host_ipc_ns(const Input& in) {
  std::string table;
  const bool have = read_file("/proc/sysvipc/msg", table, 1 << 16);
  const std::string key = in.text("host_msg_key");
  bool listed = false;
  std::istringstream lines(table);
  std::string line;
  while (!key.empty() && std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string first;
    if (fields >> first && first == key) listed = true;
  }
  return compare_ns(in, "ipc", "ipc namespace",
                    !have    ? failed("read /proc/sysvipc/msg", errno)
                    : listed ? "/proc/sysvipc/msg lists the test's queue (key " + key + ")"
                             : "/proc/sysvipc/msg does not list key " + key,
                    listed);
}

// Where the plugin sits in the host's cgroup tree: "/" in its own cgroup namespace.
Outcome host_cgroup_ns(const Input& in) {
  std::string text;
  if (!read_file("/proc/self/cgroup", text, 1 << 16)) {
    return compare_ns(in, "cgroup", "cgroup namespace", failed("read /proc/self/cgroup", errno),
                      false);
  }
  std::string outside;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto colon = line.rfind(':');
    if (colon != std::string::npos && line.substr(colon + 1) != "/") outside = line;
  }
  return compare_ns(in, "cgroup", "cgroup namespace",
                    outside.empty() ? "/proc/self/cgroup: \"/\" in every hierarchy"
                                    : "/proc/self/cgroup shows a host path: " + outside,
                    !outside.empty());
}

}  // namespace

void add_ns_attempts(std::vector<Attempt>& out) {
  const std::string f = "namespace";
  out.push_back({"host_mount_ns", f, Kind::safe, host_mount_ns});
  out.push_back({"host_uts_ns", f, Kind::safe, host_uts_ns});
  out.push_back({"host_ipc_ns", f, Kind::safe, host_ipc_ns});
  out.push_back({"host_cgroup_ns", f, Kind::safe, host_cgroup_ns});
}

}  // namespace plugvisor::escape_probe
