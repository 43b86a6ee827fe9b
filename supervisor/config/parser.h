// Internal to config/: the parser that turns a YAML tree into SupervisorConfig. Split across
// config.cc (top level, hook catalog) and plugins.cc (plugins and their tunables).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace plugvisor::config::detail {

// Durations are added to steady_clock time points (nanoseconds in an int64), so anything much
// longer would overflow; nobody needs a timeout of more than a month.
inline constexpr int64_t kMaxMs = 30LL * 24 * 3600 * 1000;
inline constexpr int64_t kMaxCount = 1'000'000'000;

// `path` made absolute against `base` (empty stays empty).
std::string resolve(const std::string& path, const std::filesystem::path& base);

class Parser {
 public:
  Parser(std::string source, std::filesystem::path base_dir, EnvLookup lookup)
      : r_(std::move(source), std::move(lookup)), base_dir_(std::move(base_dir)) {}

  Result<SupervisorConfig> run(const YAML::Node& root);

 private:
  template <typename T>
  void set_int(const Fields& f, std::string_view key, T& out, int64_t min, int64_t max) {
    if (const Entry* e = f.get(key)) {
      if (auto v = r_.integer(*e, min, max)) out = static_cast<T>(*v);
    }
  }
  void set_ms(const Fields& f, std::string_view key, milliseconds& out, int64_t min = 1) {
    if (const Entry* e = f.get(key)) {
      if (auto v = r_.integer(*e, min, kMaxMs)) out = milliseconds(*v);
    }
  }
  void set_str(const Fields& f, std::string_view key, std::string& out) {
    if (const Entry* e = f.get(key)) {
      if (auto v = r_.str(*e)) out = std::move(*v);
    }
  }

  void read_hooks(const Entry& at, dispatch::HookCatalog& catalog);
  void read_guards(const Entry& at, guard::GuardConfig& g);
  void read_logs(const Entry& at, LogLimits& l);
  void read_sandbox(const Entry& at, SandboxConfig& s);
  void read_permissions(const Entry& at, Permissions& p);
  void read_resources(const Entry& at, Resources& r);
  void read_network(const Entry& at, std::vector<egress::NetworkRule>& out);
  void read_state_quota(const Entry& at, StateQuota& q);
  void read_ai_policy(const Entry& at, AiPolicy& a);
  // Top-level secrets, fetch and ai; runs after the plugins so it can check their references.
  void read_host_sections(const Fields& f, SupervisorConfig& cfg);
  // Keys shared by plugin_defaults and each plugin, applied over what `p` already holds, so a
  // plugin overrides the defaults key by key (also inside guards and logs).
  void read_tunables(const Fields& f, PluginConfig& p);
  void check_tunables(const Entry& at, const PluginConfig& p);
  void read_bindings(const Entry& at, const dispatch::HookCatalog& catalog, PluginConfig& p);
  void read_plugins(const Entry& at, const PluginConfig& defaults,
                    const dispatch::HookCatalog& catalog, const std::filesystem::path& exe_base,
                    std::vector<PluginConfig>& out);
  // `ids` maps each id seen so far to where it was declared, to report duplicates.
  std::optional<PluginConfig> read_plugin(const Entry& at, const PluginConfig& defaults,
                                          const dispatch::HookCatalog& catalog,
                                          const std::filesystem::path& exe_base,
                                          std::map<std::string, std::string>& ids);

  Reader r_;
  std::filesystem::path base_dir_;
};

}  // namespace plugvisor::config::detail
