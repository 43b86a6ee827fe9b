// host.v1 State*: a key/value store in PostgreSQL (table plugin_state), scoped by
// (plugin, tenant). The scope always comes from the caller's identity and invocation token,
// never from the key, so no key a plugin can write reaches another plugin's or tenant's rows.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "plugvisor/common/host_error.h"

namespace plugvisor::host {

struct StateScope {
  std::string plugin_id;
  std::string tenant_id;  // empty: the plugin's own, tenant-less state
};

struct StateEntry {
  std::string key;
  std::string value;  // empty in list results without include_values, and in put results
  int64_t version = 0;
  int64_t expires_at_unix_ms = 0;  // 0: never
};

struct StatePage {
  std::vector<StateEntry> entries;
  std::string next_cursor;  // empty: no more
};

class KvStore {
 public:
  virtual ~KvStore() = default;
  virtual hostcall::HostResult<std::optional<StateEntry>> get(const StateScope& scope,
                                                              const std::string& key) = 0;
  // expected_version: nullopt unconditional; 0 only-if-absent; N only-if-version-is-N (else
  // aborted). ttl 0: no expiry. Quotas are the plugin's, over all its tenants
  // (resource_exhausted naming the quota, the limit and the current use).
  virtual hostcall::HostResult<StateEntry> put(const StateScope& scope, const std::string& key,
                                               const std::string& value,
                                               std::optional<int64_t> expected_version,
                                               std::chrono::milliseconds ttl,
                                               const config::StateQuota& quota) = 0;
  virtual hostcall::HostResult<bool> erase(const StateScope& scope, const std::string& key,
                                           std::optional<int64_t> expected_version) = 0;
  // limit 0: 100; capped at 1000. The cursor is opaque to the plugin.
  virtual hostcall::HostResult<StatePage> list(const StateScope& scope, const std::string& prefix,
                                               const std::string& cursor, uint32_t limit,
                                               bool include_values) = 0;
  // Deletes expired rows; returns how many. Expired rows are invisible before that anyway.
  virtual hostcall::HostResult<uint64_t> purge_expired() = 0;
};

// A small pool of libpq connections; an outage is `unavailable` naming the database error,
// and a connection that broke is replaced on the next call.
std::unique_ptr<KvStore> make_pg_kv_store(std::string database_url, size_t connections = 4);

}  // namespace plugvisor::host
