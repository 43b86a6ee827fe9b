// The operator's YAML config, parsed and validated into plain structs.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/catalog.h"
#include "dispatch/types.h"
#include "guard/guards.h"
#include "plugvisor/common/result.h"

namespace plugvisor::config {

using std::chrono::milliseconds;

// The operator's say over one hook a plugin declares. Unset fields keep the plugin's choice.
struct HookBindingConfig {
  std::string hook;
  std::optional<int> priority;
  std::optional<dispatch::FailPolicy> fail_policy;
  std::optional<milliseconds> timeout;
};

struct LogLimits {
  size_t line_max_bytes = 4096;
  uint32_t lines_per_second = 200;
  uint32_t burst = 400;
};

enum class SandboxMode { enforce, off };

// A host path the plugin may see beyond its own files and data dir.
struct PathGrant {
  std::string path;  // absolute
  bool writable = false;
};

struct Resources {
  uint64_t memory_mb = 512;
  uint32_t pids = 128;
  uint32_t cpu_percent = 100;  // of one core (cgroup cpu quota)
  uint32_t cpu_seconds = 0;    // RLIMIT_CPU; 0: none
  uint64_t tmp_mb = 64;
  uint32_t open_files = 1024;
};

// What a plugin is allowed, enforced by the sandbox (filesystem, spawn, resources) and by the
// host services (network, secrets).
struct Permissions {
  std::vector<PathGrant> filesystem;
  std::vector<std::string> network;  // hosts for the egress proxy: exact or *.domain, with :port
  std::vector<std::string> secrets;  // names it may have injected by reference
  bool spawn = false;                // may it start processes (not just threads)?
  Resources resources;
};

// Mechanism names as `plugvisord --check-sandbox` prints them.
inline const std::vector<std::string>& all_sandbox_mechanisms() {
  static const std::vector<std::string> names = {
      "user_ns", "pid_ns",   "mount_ns",     "net_ns", "ipc_ns",  "uts_ns",
      "cgroup_ns", "seccomp", "landlock", "no_new_privs", "cgroups", "rlimits"};
  return names;
}

struct SandboxConfig {
  SandboxMode mode = SandboxMode::enforce;
  // A plugin is not started unless every mechanism named here is available.
  std::vector<std::string> require = all_sandbox_mechanisms();
  uint32_t uid_base = 200000;  // plugin N (0-based, config order) runs as host uid uid_base + N
  std::string cgroup_name = "plugvisor";
};

struct PluginConfig {
  std::string id;
  std::string
      executable;  // absolute after loading (relative paths resolve against the config file)
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  bool enabled = true;
  // Empty: every hook the plugin declares. Otherwise only these, with the operator's overrides.
  std::vector<HookBindingConfig> hooks;
  std::string settings_json = "{}";  // handed to the plugin in Describe
  milliseconds start_timeout{5000};
  milliseconds cancel_grace{500};  // how long a timed-out handler may stay busy before a kill
  milliseconds drain_grace{2000};  // Shutdown RPC -> SIGTERM
  milliseconds term_grace{2000};   // SIGTERM -> SIGKILL
  guard::GuardConfig guards;
  LogLimits logs;
  std::optional<SandboxMode> sandbox;  // unset: the supervisor-wide mode
  Permissions permissions;
};

struct DatabaseConfig {
  std::string url;            // empty: the embedded cluster under state_dir
  std::string embedded_user;  // when run as root: the user the embedded cluster runs as
  std::string pg_bindir;      // empty: the newest /usr/lib/postgresql/*/bin
};

struct ReceiptWriterConfig {
  size_t queue_capacity = 10000;
  size_t batch_size = 500;
  milliseconds flush_interval{200};
};

struct SupervisorConfig {
  std::string source;                     // the file it came from, for messages
  std::string listen = "127.0.0.1:7701";  // host:port or unix:/path
  std::string state_dir;                  // empty: chosen at start (see README)
  std::string runner_path;                // empty: plugvisor-runner next to plugvisord
  std::string log_level = "info";
  // Absolute; empty if unset. Relative plugin executables were resolved against it.
  std::string plugin_dir;
  DatabaseConfig database;
  ReceiptWriterConfig receipts;
  dispatch::DispatchLimits limits;
  dispatch::HookCatalog catalog = dispatch::HookCatalog::defaults();
  SandboxConfig sandbox;
  std::vector<PluginConfig> plugins;
};

// Parses YAML text. Relative paths (executables, plugin_dir, state_dir, runner, pg_bindir)
// resolve against base_dir, executables against plugin_dir when it is set. ${VAR} and
// ${VAR:-default} are expanded from the environment in every scalar. Unknown keys are errors.
// Every error names the file, the key path (e.g. plugins[2].guards.breaker_open_ms)
// and what was wrong; nothing is partially applied.
Result<SupervisorConfig> parse_config(std::string_view yaml_text, const std::string& source_name,
                                      const std::string& base_dir);
// Reads `path` and parses it with the file's directory as base_dir.
Result<SupervisorConfig> load_config(const std::string& path);

}  // namespace plugvisor::config
