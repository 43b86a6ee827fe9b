// In-process test harness: call a plugin's handlers without a supervisor, with the same
// payload and patch checks the supervisor makes for a hook's default catalog entry.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "plugvisor/sdk/plugin.h"

namespace plugvisor::sdk::testing {

struct Invocation {
  std::string tenant_id = "tenant-test";
  std::string work_item_id = "work-item-test";
  std::string run_id = "run-test";
  std::chrono::milliseconds timeout{1500};
};

struct Outcome {
  bool blocked = false;
  std::string reason;
  std::optional<std::string> failure;  // the handler's Result::fail message or a thrown exception
  std::optional<Json> patch;
  Json data;  // the input with the patch applied (unchanged if blocked or failed)
  // Paths the patch touched that the hook's default catalog entry does not allow.
  std::vector<std::string> forbidden_paths;
  std::chrono::microseconds duration{0};
};

class Harness {
 public:
  explicit Harness(Plugin& plugin, Json settings = Json::object());
  // Runs the plugin's handler for `hook` on `data`. Throws std::invalid_argument if the plugin
  // has no handler for it (a test bug, not a plugin outcome).
  Outcome invoke(const std::string& hook, const Json& data, const Invocation& invocation = {});

 private:
  Plugin& plugin_;
};

}  // namespace plugvisor::sdk::testing
