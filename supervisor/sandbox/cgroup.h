#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "plugvisor/common/result.h"
#include "sandbox/mechanisms.h"

namespace plugvisor::sandbox {

// Counters read after a death, to tell an OOM kill or a pids-limit hit from a plain crash.
struct CgroupCounters {
  uint64_t oom_kills = 0;
  uint64_t pids_max_hits = 0;
};

// The cgroup(s) of one plugin incarnation: one directory per controller (v1) or one shared
// directory (v2). Removed, after killing anything left in it, when destroyed.
class PluginCgroup {
 public:
  PluginCgroup() = default;  // empty: use create()
  static Result<std::unique_ptr<PluginCgroup>> create(const Mechanisms& mechanisms,
                                                      const std::string& parent_name,
                                                      const std::string& leaf_name,
                                                      const config::Resources& resources);
  ~PluginCgroup();
  PluginCgroup(const PluginCgroup&) = delete;
  PluginCgroup& operator=(const PluginCgroup&) = delete;

  // The cgroup.procs files a process joins through.
  std::vector<std::string> procs_files() const;
  // Moves `pid` (the runner, before it starts the plugin) into every controller's cgroup.
  Status join(pid_t pid) const;
  CgroupCounters counters() const;
  // SIGKILLs every process still in the cgroup (descendants that left the process group too).
  void kill_all() const;

 private:
  struct Dir {
    std::string path;
    int version;
    std::string controller;  // "memory", "pids", "cpu", or "" for a v2 directory
  };
  std::vector<Dir> dirs_;
};

// This plugvisord's own subtree under `parent_name` ("plugvisor/sup-<pid>"). Each running
// supervisor keeps its plugins' cgroups under its own, so one starting up never touches
// another's (several may share a host, a cgroupfs, or a CI machine running tests in parallel).
std::string instance_cgroup(const std::string& parent_name);
// At shutdown, once the plugins are gone: removes this supervisor's (by then empty) subtree.
void remove_instance_cgroup(const Mechanisms& mechanisms, const std::string& parent_name);

// Removes cgroups left behind by a plugvisord that is gone (e.g. after kill -9): the subtrees of
// supervisors whose pid no longer runs, killing what is still in them. Live ones are left alone.
void remove_stale_cgroups(const Mechanisms& mechanisms, const std::string& parent_name);

}  // namespace plugvisor::sandbox
