#include "process/plugin_manager.h"

#include <spdlog/spdlog.h>

namespace plugvisor::process {

PluginManager::PluginManager(RuntimeEnv& env, const std::vector<config::PluginConfig>& plugins,
                             const std::vector<store::PluginRow>& persisted) {
  uint32_t index = 0;
  for (const auto& cfg : plugins) {
    bool enabled = cfg.enabled;
    std::string reason = enabled ? "" : "operator";
    for (const auto& row : persisted) {
      if (row.id == cfg.id && !row.enabled) {
        enabled = false;
        reason = row.disabled_reason.empty() ? "operator" : row.disabled_reason;
        spdlog::warn("plugin {} is disabled in the database ({}); plugvisorctl enable {} brings it back",
                     cfg.id, reason, cfg.id);
      }
    }
    plugins_.emplace(cfg.id, std::make_shared<PluginRuntime>(cfg, index++, env, enabled, reason));
  }
}

void PluginManager::start_all() {
  for (auto& [id, p] : plugins_) p->start();
}

void PluginManager::stop_all(std::function<void()> done) {
  auto remaining = std::make_shared<size_t>(plugins_.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  if (*remaining == 0) return (*finish)();
  for (auto& [id, p] : plugins_) {
    p->stop([remaining, finish] {
      if (--*remaining == 0) (*finish)();
    });
  }
}

std::shared_ptr<PluginRuntime> PluginManager::find(const std::string& id) const {
  auto it = plugins_.find(id);
  return it == plugins_.end() ? nullptr : it->second;
}

std::vector<PluginSnapshot> PluginManager::snapshots() const {
  std::vector<PluginSnapshot> out;
  for (const auto& [id, p] : plugins_) out.push_back(p->snapshot());
  return out;
}

}  // namespace plugvisor::process
