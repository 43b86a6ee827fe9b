// In-process test harness: call a plugin's handlers without a supervisor, with the same
// payload and patch checks the supervisor makes for a hook's default catalog entry.
#pragma once

#include <chrono>
#include <map>
#include <optional>
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
  // Set when the supervisor would reject this output as INVALID_OUTPUT (a forbidden path, a
  // block on a hook that cannot be blocked, data that fails the hook's output schema); says why.
  std::optional<std::string> invalid_output;
  // The handler ran longer than Invocation::timeout: the supervisor would report TIMEOUT.
  bool timed_out = false;
  std::chrono::microseconds duration{0};
};

// What the supervisor's catalog says about a hook, for hooks outside the default catalog.
struct HookRules {
  bool blockable = false;
  std::vector<std::string> mutable_paths;  // JSON Pointers
};

class Harness {
 public:
  // Configures the plugin with `settings` as the handshake would; whatever the plugin's
  // configure callback throws reaches the test.
  explicit Harness(Plugin& plugin, Json settings = Json::object());
  // Runs the plugin's handler for `hook` on `data` (a JSON object). Throws
  // std::invalid_argument if the plugin has no handler for it, the hook is in neither the
  // default catalog nor set_rules(), or data is not an object (test bugs, not plugin outcomes).
  Outcome invoke(const std::string& hook, const Json& data, const Invocation& invocation = {});
  // Declares (or overrides) a hook the way an operator's catalog would.
  Harness& set_rules(const std::string& hook, HookRules rules);

 private:
  Plugin& plugin_;
  std::map<std::string, HookRules> rules_;
};

}  // namespace plugvisor::sdk::testing
