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
#include "plugvisor/common/egress_rules.h"
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

// The plugin's key/value state (host.v1 State*), summed over all its tenants.
struct StateQuota {
  uint64_t max_keys = 10000;
  uint64_t max_bytes = 16ull << 20;       // keys + values
  uint64_t max_value_bytes = 1ull << 20;  // one value
};

// The plugin's use of the AI chat proxy. Absent from the config: not allowed.
struct AiPolicy {
  bool allowed = false;
  std::string model;                      // empty: the upstream's default model
  std::optional<double> temperature;      // used when the call sets none
  uint64_t max_input_bytes = 256 * 1024;  // messages + tools as sent upstream
  uint32_t max_retries = 2;               // on 429, 5xx and transport errors
  milliseconds backoff_initial{250};      // doubled per retry, capped at backoff_max
  milliseconds backoff_max{4000};
  milliseconds timeout{30000};  // per attempt; never past the invocation's deadline
};

// What a plugin is allowed, enforced by the sandbox (filesystem, spawn, resources) and by the
// host services (network, secrets, state, ai).
struct Permissions {
  std::vector<PathGrant> filesystem;
  std::vector<egress::NetworkRule> network;  // the Fetch allowlist
  std::vector<std::string> secrets;          // names it may have injected by reference
  bool spawn = false;                        // may it start processes (not just threads)?
  Resources resources;
  StateQuota state;
  AiPolicy ai;
};

// Where the supervisor finds a secret by name; exactly one of env or file. A secret's value
// lives only in plugvisord's memory: never in status, logs, receipts, events or a plugin.
struct SecretSource {
  std::string env;   // environment variable of plugvisord
  std::string file;  // read at start; trailing newline stripped
};

// Limits of host.v1 Fetch, for every plugin.
struct FetchLimits {
  uint64_t max_request_bytes = 1ull << 20;
  uint64_t max_response_bytes = 8ull << 20;
  milliseconds default_timeout{10000};
  milliseconds max_timeout{60000};
  uint32_t max_redirects = 5;
};

// The OpenAI-compatible endpoint behind host.v1 AiChat. Unset base_url: AiChat is unavailable.
struct AiUpstreamConfig {
  std::string base_url;      // e.g. https://api.openai.com/v1 (…/chat/completions is appended)
  std::string model;         // default model for plugins whose policy names none
  std::string api_key_env;   // the key comes from this variable of plugvisord's environment...
  std::string api_key_file;  // ...or this file; never from the config text itself
};

// Mechanism names as `plugvisord --check-sandbox` prints them.
inline const std::vector<std::string>& all_sandbox_mechanisms() {
  static const std::vector<std::string> names = {
      "user_ns",   "pid_ns",  "mount_ns", "net_ns",       "ipc_ns",  "uts_ns",
      "cgroup_ns", "seccomp", "landlock", "no_new_privs", "cgroups", "rlimits"};
  return names;
}

struct SandboxConfig {
  SandboxMode mode = SandboxMode::enforce;
  // A plugin is not started unless every mechanism named here is available.
  std::vector<std::string> require = all_sandbox_mechanisms();
  uint32_t uid_base = 200000;  // plugin N (0-based, config order) runs as host uid uid_base + N
  std::string cgroup_name = "plugvisor";
  // One empty network namespace for all plugins where Landlock scopes abstract unix sockets
  // (sandbox/netns.h); false: a new one per plugin incarnation.
  bool shared_netns = true;
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
  // Threads that run Dispatch calls and their Invokes (dispatch.threads): none of them ever
  // waits on a plugin, so one serves any number of concurrent calls. More threads take turns at
  // polling, and every turn is a wake-up on the hot path (docs/decisions.md).
  int dispatch_threads = 1;
  // How long a dispatch thread keeps polling after its last completion before it sleeps
  // (dispatch.busy_poll_us; 0: never). See docs/decisions.md, "busy polling".
  std::chrono::microseconds dispatch_busy_poll{100};
  dispatch::HookCatalog catalog = dispatch::HookCatalog::defaults();
  SandboxConfig sandbox;
  std::map<std::string, SecretSource> secrets;  // by the name plugins reference
  FetchLimits fetch;
  AiUpstreamConfig ai;
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
