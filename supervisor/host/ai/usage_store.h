// The token usage of host.v1 AiChat, one row per successful call in table ai_usage, and its
// sums for admin.v1 Usage. Writes are synchronous: the caller records after the upstream
// answered, and a database outage is an error value it may log, never a throw.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/ai/ai_proxy.h"
#include "plugvisor/common/host_error.h"
#include "store/connection.h"

namespace plugvisor::host {

struct UsageRecord {
  std::string plugin_id;
  std::string plugin_version;
  std::string tenant_id;
  std::string hook;
  std::string work_item_id;
  std::string run_id;
  std::string invocation_id;
  std::string model;  // as the upstream named it in its answer
  uint32_t attempts = 1;
  TokenUsage usage;
};

struct UsageQuery {
  // Any of "plugin", "tenant", "hook", "model"; empty: plugin, tenant and hook.
  std::vector<std::string> group_by;
  std::string plugin_id;  // filters; empty: all
  std::string tenant_id;
  int64_t since_unix_ms = 0;  // 0: from the beginning
};

struct UsageRow {
  std::string plugin_id;  // empty when not grouped by it
  std::string tenant_id;
  std::string hook;
  std::string model;
  int64_t calls = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
};

struct UsageSummary {
  std::vector<UsageRow> rows;  // ordered by the grouped columns
  UsageRow total;              // every row summed; its key columns are empty
};

// Thread-safe: one connection, used under a mutex, opened on first use and replaced after it
// broke.
class UsageStore {
 public:
  explicit UsageStore(std::string database_url);

  // unavailable naming the database error when the row could not be written.
  hostcall::HostStatus record(const UsageRecord& record);
  // invalid_argument for an unknown group_by name; unavailable when the database is not there.
  hostcall::HostResult<UsageSummary> summarise(const UsageQuery& query);

 private:
  hostcall::HostResult<store::QueryResult> exec(
      const std::string& sql, const std::vector<std::optional<std::string>>& params);

  std::string url_;
  std::mutex mu_;
  std::optional<store::Connection> conn_;  // guarded by mu_
};

}  // namespace plugvisor::host
