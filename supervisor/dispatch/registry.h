#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dispatch/types.h"

namespace plugvisor::dispatch {

// hook -> handlers in dispatch order (priority desc, plugin id asc, registration order asc).
// Readers get an immutable snapshot, so a dispatch never holds a lock while plugins run.
class HandlerRegistry {
 public:
  using Chain = std::vector<Handler>;

  // Replaces every handler of plugin_id with `handlers`; registration_order is assigned here.
  void set_plugin_handlers(const std::string& plugin_id, std::vector<Handler> handlers);
  void remove_plugin(const std::string& plugin_id);
  std::shared_ptr<const Chain> chain(const std::string& hook) const;

 private:
  mutable std::mutex mu_;
  uint64_t next_order_ = 0;
  std::map<std::string, std::shared_ptr<const Chain>> chains_;
};

}  // namespace plugvisor::dispatch
