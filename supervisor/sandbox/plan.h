#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "plugvisor/common/result.h"
#include "sandbox/cgroup.h"
#include "sandbox/mechanisms.h"

namespace plugvisor::sandbox {

// What the supervisor knows about sandboxing, fixed at start.
struct SandboxContext {
  config::SandboxConfig config;
  Mechanisms mechanisms;
  std::string state_dir;
  // The empty network namespace plugins share (netns.h), owned by the caller; -1: each plugin
  // gets its own.
  int shared_netns_fd = -1;
};

// Where the runner finds the shared network namespace: plugvisord passes it on this fd and the
// spec names it as /proc/self/fd/<this>.
constexpr int kRunnerNetnsFd = 7;

// One incarnation's sandbox: the runner's spec and the cgroup it joins.
struct SandboxPlan {
  // The supervisor moves the runner into the cgroup itself, right after spawning it and before
  // sending this spec, so the kernel's wait on a cgroup-v1 attach (an RCU grace period) overlaps
  // the runner's own start-up instead of delaying the plugin.
  std::string spec_json;
  // The same spec with the cgroup join left to the runner: sent if the supervisor's join fails,
  // so the failure comes back as the runner's usual "cgroup_join" step with its errno.
  std::string spec_json_runner_joins;
  std::unique_ptr<PluginCgroup> cgroup;
  // To pass to the runner on kRunnerNetnsFd; -1: none (it creates its own namespace).
  int netns_fd = -1;
  CgroupCounters counters_at_start;
};

// Whether `plugin` runs sandboxed (its own `sandbox:` or the supervisor-wide mode).
bool sandbox_enforced(const SandboxContext& ctx, const config::PluginConfig& plugin);
// "enforced", "off", or "enforced without X, Y" (optional mechanisms this machine lacks).
std::string sandbox_summary(const SandboxContext& ctx, const config::PluginConfig& plugin);

// Checks the required mechanisms, prepares the plugin's data dir (owned by its own host uid) and
// cgroup, and builds the spec. `index` is the plugin's position in the config (its uid offset).
Result<SandboxPlan> plan_sandbox(const SandboxContext& ctx, const config::PluginConfig& plugin,
                                 uint32_t index, uint64_t generation,
                                 const std::vector<std::string>& env);

}  // namespace plugvisor::sandbox
