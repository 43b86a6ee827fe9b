// The sandbox spec plugvisord hands the runner on --spec-fd (SPEC.md, "Spec document"), parsed
// into plain structs before anything else happens, so that no later step (and nothing after
// clone) touches JSON or can throw.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace plugvisor::runner {

struct Bind {
  std::string host;    // path on the host
  std::string inside;  // path in the new root
  bool rw = false;
  bool optional = false;  // skipped when `host` does not exist
};

struct Symlink {
  std::string target;  // what the link points to, verbatim
  std::string link;    // absolute path of the link in the new root
};

// Each defaults to true: a key plugvisord leaves out never weakens the sandbox.
struct Namespaces {
  bool user = true, pid = true, mount = true, net = true, ipc = true, uts = true, cgroup = true;
};

// 0 means "leave as inherited", except core, which is always set to 0.
struct Rlimits {
  uint64_t nofile = 0, nproc = 0, cpu_seconds = 0, fsize_bytes = 0;
};

struct LandlockSpec {
  std::vector<std::string> ro, rw, exec;  // paths in the new root
  bool deny_tcp = true, scope_signals = true, scope_abstract_unix = true;
  // Denials after the execve go to the audit log (ABI 7). Off unless asked for: a plugin could
  // fill the host's audit log at will, which plugvisord allows only where that is harmless.
  bool log_denials = false;
};

struct Mechanisms {
  bool landlock = true, seccomp = true, cgroups = true, rlimits = true;
};

struct Spec {
  std::string plugin_id;
  uid_t host_uid = 0;
  gid_t host_gid = 0;
  Namespaces ns;
  // A prepared empty network namespace to join instead of creating one (creating and later
  // destroying a network namespace is the dearest part of a spawn); "" creates a new one.
  std::string netns;
  std::string hostname;
  std::vector<Bind> binds;
  std::vector<Symlink> symlinks;
  std::vector<std::string> devices;
  uint64_t tmp_bytes = 0;  // 0: no /tmp
  bool proc = false;
  std::vector<std::string> cgroup_procs;
  Rlimits rlimits;
  LandlockSpec landlock;
  bool allow_spawn = false;
  std::string exec_path;
  std::vector<std::string> argv, env;
  Mechanisms mechanisms;
};

// Reads `fd` to EOF (from offset 0 if it is a memfd or file), closes it and parses and validates
// the document. Any failure is reported as step "read_spec" and exits 126.
Spec read_spec(int fd);

// True if `path` is `dir` or lies below it (both absolute, normalised).
bool path_within(const std::string& path, const std::string& dir);

}  // namespace plugvisor::runner
