#include "dispatch/registry.h"

#include <algorithm>
#include <utility>

namespace plugvisor::dispatch {
namespace {

bool runs_before(const Handler& a, const Handler& b) {
  // Priority is descending, the tie-breakers ascending, so the order is total and does not
  // depend on the order plugins happened to start in.
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.plugin_id != b.plugin_id) return a.plugin_id < b.plugin_id;
  return a.registration_order < b.registration_order;
}

const std::shared_ptr<const HandlerRegistry::Chain>& empty_chain() {
  static const auto empty = std::make_shared<const HandlerRegistry::Chain>();
  return empty;
}

}  // namespace

void HandlerRegistry::set_plugin_handlers(const std::string& plugin_id,
                                          std::vector<Handler> handlers) {
  std::lock_guard lock(mu_);
  std::map<std::string, Chain> next;
  // Copy every chain without this plugin's old handlers; untouched chains are rebuilt too,
  // which is cheap (registration is rare) and keeps the code to one path.
  for (const auto& [hook, chain] : chains_) {
    Chain& c = next[hook];
    for (const Handler& h : *chain) {
      if (h.plugin_id != plugin_id) c.push_back(h);
    }
  }
  for (Handler& h : handlers) {
    h.plugin_id = plugin_id;
    h.registration_order = next_order_++;
    next[h.hook].push_back(std::move(h));
  }
  chains_.clear();
  for (auto& [hook, chain] : next) {
    if (chain.empty()) continue;
    std::sort(chain.begin(), chain.end(), runs_before);
    chains_.emplace(hook, std::make_shared<const Chain>(std::move(chain)));
  }
}

void HandlerRegistry::remove_plugin(const std::string& plugin_id) {
  set_plugin_handlers(plugin_id, {});
}

std::shared_ptr<const HandlerRegistry::Chain> HandlerRegistry::chain(
    const std::string& hook) const {
  std::lock_guard lock(mu_);
  auto it = chains_.find(hook);
  return it == chains_.end() ? empty_chain() : it->second;
}

}  // namespace plugvisor::dispatch
