#include "sandbox/plan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "sandbox/kernel_audit.h"
#include "sandbox/landlock_audit.h"
#include "sandbox/netns.h"
#include "sandbox/spec.h"

namespace plugvisor::sandbox {

namespace fs = std::filesystem;

bool sandbox_enforced(const SandboxContext& ctx, const config::PluginConfig& plugin) {
  return plugin.sandbox.value_or(ctx.config.mode) == config::SandboxMode::enforce;
}

std::string sandbox_summary(const SandboxContext& ctx, const config::PluginConfig& plugin) {
  if (!sandbox_enforced(ctx, plugin)) return "off";
  std::string lacking;
  for (const auto& name : config::all_sandbox_mechanisms()) {
    if (!ctx.mechanisms.has(name)) lacking += (lacking.empty() ? "" : ", ") + name;
  }
  return lacking.empty() ? "enforced" : "enforced without " + lacking;
}

Result<SandboxPlan> plan_sandbox(const SandboxContext& ctx, const config::PluginConfig& plugin,
                                 uint32_t index, uint64_t generation,
                                 const std::vector<std::string>& env) {
  auto missing = ctx.mechanisms.missing(ctx.config.require);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return Error{"sandbox mechanism(s) required by the config but not available here: " + list +
                 " (see plugvisord --check-sandbox)"};
  }
  const uint32_t uid = ctx.config.uid_base + index;

  // The data dir is the plugin's only writable place that outlives it.
  std::string data_dir = ctx.state_dir + "/plugins/" + plugin.id + "/data";
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Error{"data dir " + data_dir + ": " + ec.message()};
  if (chown(data_dir.c_str(), uid, uid) != 0 || chmod(data_dir.c_str(), 0700) != 0) {
    return Error::errno_error("chown/chmod " + data_dir, errno);
  }
  // Its parents must be traversable by the plugin's uid for the bind mount's source lookup.
  chmod((ctx.state_dir + "/plugins").c_str(), 0755);
  chmod((ctx.state_dir + "/plugins/" + plugin.id).c_str(), 0755);

  SandboxPlan plan;
  std::vector<std::string> procs;
  if (ctx.mechanisms.has("cgroups")) {
    auto cg = PluginCgroup::create(ctx.mechanisms, instance_cgroup(ctx.config.cgroup_name),
                                   plugin.id + "." + std::to_string(generation),
                                   plugin.permissions.resources);
    if (!cg) return cg.error();
    plan.cgroup = std::move(*cg);
    plan.counters_at_start = plan.cgroup->counters();
    procs = plan.cgroup->procs_files();
  }
  std::string netns;
  if (ctx.shared_netns_fd >= 0 && can_share_netns(ctx.mechanisms)) {
    plan.netns_fd = ctx.shared_netns_fd;
    netns = "/proc/self/fd/" + std::to_string(kRunnerNetnsFd);
  }
  // Asked at every spawn: the operator may change the audit settings while plugvisord runs.
  const bool log_denials =
      ctx.mechanisms.landlock_abi >= kLandlockAbiAudit && landlock_denials_loggable();
  plan.spec_json =
      build_spec(SpecInputs{plugin, ctx.mechanisms, uid, data_dir, {}, env, netns, log_denials})
          .dump();
  plan.spec_json_runner_joins =
      build_spec(SpecInputs{plugin, ctx.mechanisms, uid, data_dir, procs, env, netns, log_denials})
          .dump();
  return plan;
}

}  // namespace plugvisor::sandbox
