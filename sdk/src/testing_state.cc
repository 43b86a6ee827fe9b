// FakeHost's key/value state: host.v1 State* with the supervisor's key checks, scoping by
// (plugin, tenant of the invocation), compare-and-set, TTLs, paging and the plugin's quotas.
#include "plugvisor/common/host_names.h"
#include "testing_host.h"

namespace plugvisor::sdk::testing {
namespace {

constexpr uint32_t kDefaultListLimit = 100;
constexpr uint32_t kMaxListLimit = 1000;
// Cursors are opaque to plugins; tagging them lets the host refuse one it did not make.
constexpr std::string_view kCursorTag = "fk1:";

StateEntry entry(const std::string& key, const FakeHost::Impl::Stored& s, bool with_value) {
  return {key, with_value ? s.value : std::string(), s.version, s.expires_at_unix_ms};
}

std::string number(uint64_t n) { return std::to_string(n); }

}  // namespace

FakeHost::Impl::Stored* FakeHost::Impl::find_live(const Scope& scope, const std::string& key) {
  auto scoped = state.find({scope.plugin_id, scope.tenant_id});
  if (scoped == state.end()) return nullptr;
  auto it = scoped->second.find(key);
  if (it == scoped->second.end()) return nullptr;
  if (it->second.expires_at_unix_ms != 0 && it->second.expires_at_unix_ms <= now_unix_ms()) {
    scoped->second.erase(it);
    return nullptr;
  }
  return &it->second;
}

HostResult<std::optional<StateEntry>> FakeHost::Impl::state_get(const std::string& caller,
                                                                const HostCall& call,
                                                                const std::string& key) {
  std::lock_guard lock(mu);
  auto scope = resolve(caller, call, /*needs_invocation=*/false, "StateGet");
  if (!scope) return fail(caller, scope.error());
  if (auto ok = hostcall::check_state_key(key); !ok) return fail(caller, ok.error());
  const auto* found = find_live(*scope, key);
  if (found == nullptr) return std::optional<StateEntry>();
  return std::optional<StateEntry>(entry(key, *found, true));
}

HostResult<StateEntry> FakeHost::Impl::state_put(const std::string& caller, const HostCall& call,
                                                 const std::string& key, const std::string& value,
                                                 const PutOptions& options) {
  std::lock_guard lock(mu);
  auto scope = resolve(caller, call, /*needs_invocation=*/false, "StatePut");
  if (!scope) return fail(caller, scope.error());
  if (auto ok = hostcall::check_state_key(key); !ok) return fail(caller, ok.error());
  if (options.ttl.count() < 0) return fail(caller, hostcall::invalid("negative ttl"));
  if (options.expected_version && *options.expected_version < 0) {
    return fail(caller, hostcall::invalid("negative expected_version"));
  }
  if (value.size() > quota.max_value_bytes) {
    return fail(caller, hostcall::exhausted("state value is " + number(value.size()) +
                                            " bytes; quota max_value_bytes is " +
                                            number(quota.max_value_bytes)));
  }
  Stored* current = find_live(*scope, key);
  if (const auto& expected = options.expected_version) {
    const int64_t have = current != nullptr ? current->version : 0;
    if (have != *expected) {
      return fail(caller,
                  hostcall::aborted("state key " + key + " is at version " + std::to_string(have) +
                                    ", not " + std::to_string(*expected)));
    }
  }

  // Quotas are the plugin's, over all its tenants; expired entries no longer count.
  uint64_t keys = 0, bytes = 0;
  for (auto& [where, entries] : state) {
    if (where.first != caller) continue;
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it->second.expires_at_unix_ms != 0 && it->second.expires_at_unix_ms <= now_unix_ms()) {
        continue;
      }
      ++keys;
      bytes += it->first.size() + it->second.value.size();
    }
  }
  const uint64_t old_bytes = current != nullptr ? key.size() + current->value.size() : 0;
  if (current == nullptr && keys + 1 > quota.max_keys) {
    return fail(caller, hostcall::exhausted("state quota max_keys is " + number(quota.max_keys) +
                                            "; the plugin has " + number(keys) + " keys"));
  }
  if (bytes - old_bytes + key.size() + value.size() > quota.max_bytes) {
    return fail(caller, hostcall::exhausted("state quota max_bytes is " + number(quota.max_bytes) +
                                            "; the plugin uses " + number(bytes) +
                                            " bytes and this put needs " +
                                            number(key.size() + value.size())));
  }

  Stored next{value, current != nullptr ? current->version + 1 : 1,
              options.ttl.count() > 0 ? now_unix_ms() + options.ttl.count() : 0};
  auto& slot = state[{scope->plugin_id, scope->tenant_id}][key];
  slot = std::move(next);
  return entry(key, slot, /*with_value=*/false);
}

HostResult<bool> FakeHost::Impl::state_erase(const std::string& caller, const HostCall& call,
                                             const std::string& key,
                                             std::optional<int64_t> expected_version) {
  std::lock_guard lock(mu);
  auto scope = resolve(caller, call, /*needs_invocation=*/false, "StateDelete");
  if (!scope) return fail(caller, scope.error());
  if (auto ok = hostcall::check_state_key(key); !ok) return fail(caller, ok.error());
  if (expected_version && *expected_version < 0) {
    return fail(caller, hostcall::invalid("negative expected_version"));
  }
  const Stored* current = find_live(*scope, key);
  if (expected_version) {
    const int64_t have = current != nullptr ? current->version : 0;
    if (have != *expected_version) {
      return fail(caller,
                  hostcall::aborted("state key " + key + " is at version " + std::to_string(have) +
                                    ", not " + std::to_string(*expected_version)));
    }
  }
  if (current == nullptr) return false;
  state[{scope->plugin_id, scope->tenant_id}].erase(key);
  return true;
}

HostResult<StatePage> FakeHost::Impl::state_list(const std::string& caller, const HostCall& call,
                                                 const std::string& prefix,
                                                 const ListOptions& options) {
  std::lock_guard lock(mu);
  auto scope = resolve(caller, call, /*needs_invocation=*/false, "StateList");
  if (!scope) return fail(caller, scope.error());
  if (auto ok = hostcall::check_state_prefix(prefix); !ok) return fail(caller, ok.error());
  std::string after;
  if (!options.cursor.empty()) {
    if (options.cursor.compare(0, kCursorTag.size(), kCursorTag) != 0) {
      return fail(caller, hostcall::invalid("not a cursor of this host: " + options.cursor));
    }
    after = options.cursor.substr(kCursorTag.size());
  }
  const uint32_t limit =
      options.limit == 0 ? kDefaultListLimit : std::min(options.limit, kMaxListLimit);

  StatePage page;
  auto scoped = state.find({scope->plugin_id, scope->tenant_id});
  if (scoped == state.end()) return page;
  const int64_t now = now_unix_ms();
  auto& entries = scoped->second;
  auto it = after < prefix ? entries.lower_bound(prefix) : entries.upper_bound(after);
  for (; it != entries.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->second.expires_at_unix_ms != 0 && it->second.expires_at_unix_ms <= now) continue;
    if (page.entries.size() == limit) {
      page.next_cursor = std::string(kCursorTag) + page.entries.back().key;
      break;
    }
    page.entries.push_back(entry(it->first, it->second, options.include_values));
  }
  return page;
}

}  // namespace plugvisor::sdk::testing
