// Rows plugvisor keeps in PostgreSQL, as the rest of the supervisor sees them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "dispatch/types.h"

namespace plugvisor::store {

struct EventRecord {
  std::string id;  // time_ordered_id(), assigned by whoever creates the event
  int64_t at_unix_ms = 0;
  std::string plugin_id;
  std::string kind;   // spawn, ready, exit, restart, state, circuit, auto_disabled, enabled, ...
  std::string state;  // the plugin's state after the event, "" if it did not change
  nlohmann::json detail = nlohmann::json::object();
};

struct PluginRow {
  std::string id;
  std::string version;
  std::string state;
  bool enabled = true;
  std::string disabled_reason;  // "", "operator", "crash_loop"
  uint32_t restarts = 0;
};

struct StoredReceipt {
  int64_t id = 0;
  dispatch::Receipt receipt;
};

struct ReceiptFilter {
  std::string plugin_id;
  std::string hook;
  std::string dispatch_id;
  uint32_t limit = 50;
  int64_t before_id = 0;  // 0: from the newest; else only ids below (the cursor)
};

struct EventFilter {
  std::string plugin_id;
  std::string kind_prefix;
  uint32_t limit = 50;  // the newest `limit`, returned oldest first
};

}  // namespace plugvisor::store
