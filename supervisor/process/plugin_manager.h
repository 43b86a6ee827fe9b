#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process/plugin_runtime.h"
#include "store/records.h"

namespace plugvisor::process {

// All configured plugins. Lifecycle calls run on the Asio loop; lookups from any thread.
class PluginManager {
 public:
  // `persisted` are the plugin rows from the database: a plugin disabled there (by an operator
  // or by the crash-loop guard) stays disabled until an operator enables it.
  PluginManager(RuntimeEnv& env, const std::vector<config::PluginConfig>& plugins,
                const std::vector<store::PluginRow>& persisted);

  void start_all();
  // Stops every plugin in parallel; `done` runs when the last one is gone.
  void stop_all(std::function<void()> done);

  std::shared_ptr<PluginRuntime> find(const std::string& id) const;
  std::vector<PluginSnapshot> snapshots() const;

 private:
  std::map<std::string, std::shared_ptr<PluginRuntime>> plugins_;
};

}  // namespace plugvisor::process
