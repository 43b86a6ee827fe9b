// host.v1 State* on PostgreSQL (table plugin_state).
//
// store::Connection only speaks text parameters and results, so values cross the wire as hex
// (decode($n, 'hex') / encode(value, 'hex')): arbitrary bytes survive, including NUL.
// Keys are text and checked as clean UTF-8 before they reach SQL.
//
// "Live" means not expired: every read and CAS filters with PV_LIVE, and the quota check
// subtracts expired rows whenever they could matter (see quota_status), so an expired row
// behaves exactly like an absent one until purge_expired() deletes it.
#include <algorithm>
#include <array>
#include <string_view>
#include <type_traits>

#include "host/state/kv_store.h"
#include "host/state/pg_pool.h"
#include "plugvisor/common/hex.h"
#include "plugvisor/common/host_names.h"

namespace plugvisor::host {
namespace {

using hostcall::HostError;
using hostcall::HostResult;
using state::PgPool;

constexpr uint32_t kDefaultListLimit = 100;
constexpr uint32_t kMaxListLimit = 1000;
// interval arithmetic overflows far beyond this, and no plugin needs more than a century.
constexpr std::chrono::milliseconds kMaxTtl = std::chrono::hours(24 * 365 * 100);
// Class half of the two-key advisory lock that serialises one plugin's puts; the two-key form
// lives in a different lock space from the bigint key the migrations take.
constexpr std::string_view kQuotaLockClass = "774051";

// Macros, not constants: they splice into string literals at compile time, so every statement
// stays one constant string and no text from a caller can ever be spliced into SQL.
#define PV_LIVE "(expires_at IS NULL OR expires_at > now())"
#define PV_SCOPE "plugin_id = $1 AND tenant_id = $2"
#define PV_EXPIRES_MS "floor(extract(epoch FROM expires_at) * 1000)::bigint"

// Tells an outage (worth retrying later) from our own mistakes. A broken connection has no
// SQLSTATE at all; 40xxx (serialisation, deadlock) is a lost race the plugin may retry.
HostError db_error(std::string_view what, const PgPool::Lease& lease, const Error& err) {
  std::string message = "state store: " + std::string(what) + " failed: " + err.message;
  const std::string& sqlstate = lease.last_sqlstate();
  if (sqlstate.starts_with("40")) return hostcall::aborted(std::move(message));
  if (store::is_data_error(sqlstate) || sqlstate.starts_with("42")) {
    return hostcall::internal(std::move(message));
  }
  return hostcall::unavailable(std::move(message));
}

std::string version_text(std::optional<int64_t> version) {
  return version ? "version " + std::to_string(*version) : "absent";
}

// expected_version against what is stored (nullopt: absent or expired).
hostcall::HostStatus check_expected(const std::string& key, std::optional<int64_t> expected,
                                    std::optional<int64_t> actual) {
  if (!expected || (*expected == 0 && !actual) || (actual && *expected == *actual)) return {};
  return hostcall::aborted("state key " + key + ": expected " +
                           (*expected == 0 ? std::string("absent") : version_text(*expected)) +
                           ", but it is " + (actual ? "at " : "") + version_text(actual));
}

hostcall::HostStatus check_quota(const config::StateQuota& quota, uint64_t keys, uint64_t bytes,
                                 uint64_t added_bytes) {
  if (keys + 1 > quota.max_keys) {
    return hostcall::exhausted("state quota permissions.state.max_keys exceeded: the limit is " +
                               std::to_string(quota.max_keys) +
                               " keys and the plugin already has " + std::to_string(keys));
  }
  if (bytes + added_bytes > quota.max_bytes) {
    return hostcall::exhausted("state quota permissions.state.max_bytes exceeded: the limit is " +
                               std::to_string(quota.max_bytes) +
                               " bytes (keys + values), the plugin uses " + std::to_string(bytes) +
                               " and this put needs " + std::to_string(added_bytes));
  }
  return {};
}

// Columns from `col` on: hex value, version, expires_at in ms.
StateEntry entry(const store::QueryResult& r, int row, std::string key, int col) {
  StateEntry e;
  e.key = std::move(key);
  e.value = from_hex(r.text(row, col)).value_or(std::string());
  e.version = r.int64(row, col + 1);
  e.expires_at_unix_ms = r.int64(row, col + 2);
  return e;
}

// Rolls back on every path that did not commit; a connection whose ROLLBACK failed is in an
// unknown state and must not go back to the pool.
class Transaction {
 public:
  explicit Transaction(PgPool::Lease& lease) : lease_(lease) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (open_ && !lease_.exec("ROLLBACK").ok()) lease_.discard();
  }
  Result<void> begin() {
    auto r = lease_.exec("BEGIN");
    if (!r.ok()) return r.error();
    open_ = true;
    return {};
  }
  Result<void> commit() {
    auto r = lease_.exec("COMMIT");
    // A failed COMMIT has ended the transaction one way or the other; nothing to roll back.
    open_ = false;
    if (!r.ok()) return r.error();
    return {};
  }

 private:
  PgPool::Lease& lease_;
  bool open_ = false;
};

// The row's live version, locked until the transaction ends; nullopt if absent or expired.
Result<std::optional<int64_t>> locked_version(PgPool::Lease& lease, const StateScope& scope,
                                              const std::string& key) {
  auto r = lease.exec("SELECT version FROM plugin_state WHERE " PV_SCOPE
                      " AND key = $3 AND " PV_LIVE " FOR UPDATE",
                      {scope.plugin_id, scope.tenant_id, key});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(r->int64(0, 0));
}

// The quota check of a put, without reading the plugin's rows. plugin_state_usage (kept by
// triggers, schemas/sql/0003_state_usage.sql) totals all of them, expired ones too, so it can
// only overstate the live use: a put that fits the totals fits. One that does not pays for
// subtracting the plugin's expired rows (an index range, empty unless the plugin uses ttls),
// so it is refused exactly when the live rows leave no room, with the live use in the message.
hostcall::HostStatus quota_status(PgPool::Lease& lease, const StateScope& scope,
                                  const std::string& key, const config::StateQuota& quota,
                                  uint64_t added_bytes) {
  // The row being replaced, live or expired, does not count: its key and value give way to
  // the new ones.
  auto total = lease.exec(
      "WITH self AS (SELECT count(*) AS keys,"
      " coalesce(sum(octet_length(key) + octet_length(value)), 0) AS bytes"
      " FROM plugin_state WHERE " PV_SCOPE
      " AND key = $3)"
      " SELECT coalesce(u.keys, 0) - self.keys, coalesce(u.bytes, 0) - self.bytes"
      " FROM self LEFT JOIN plugin_state_usage u ON u.plugin_id = $1",
      {scope.plugin_id, scope.tenant_id, key});
  if (!total) return db_error("put", lease, total.error());
  const int64_t keys = total->int64(0, 0), bytes = total->int64(0, 1);
  auto as_use = [](int64_t n) { return static_cast<uint64_t>(std::max<int64_t>(n, 0)); };
  if (auto ok = check_quota(quota, as_use(keys), as_use(bytes), added_bytes); ok) return ok;

  auto expired = lease.exec(
      "SELECT count(*), coalesce(sum(octet_length(key) + octet_length(value)), 0)"
      " FROM plugin_state WHERE plugin_id = $1 AND NOT " PV_LIVE
      " AND NOT (tenant_id = $2 AND key = $3)",
      {scope.plugin_id, scope.tenant_id, key});
  if (!expired) return db_error("put", lease, expired.error());
  return check_quota(quota, as_use(keys - expired->int64(0, 0)),
                     as_use(bytes - expired->int64(0, 1)), added_bytes);
}

class PgKvStore final : public KvStore {
 public:
  PgKvStore(std::string url, size_t connections) : pool_(std::move(url), connections) {}

  HostResult<std::optional<StateEntry>> get(const StateScope& scope,
                                            const std::string& key) override {
    if (auto ok = hostcall::check_state_key(key); !ok) return ok.error();
    return run("get", true, [&](PgPool::Lease& lease) -> HostResult<std::optional<StateEntry>> {
      auto r = lease.exec("SELECT encode(value, 'hex'), version, " PV_EXPIRES_MS
                          " FROM plugin_state WHERE " PV_SCOPE " AND key = $3 AND " PV_LIVE,
                          {scope.plugin_id, scope.tenant_id, key});
      if (!r) return db_error("get", lease, r.error());
      if (r->rows() == 0) return std::optional<StateEntry>();
      return std::optional<StateEntry>(entry(*r, 0, key, 0));
    });
  }

  HostResult<StateEntry> put(const StateScope& scope, const std::string& key,
                             const std::string& value, std::optional<int64_t> expected_version,
                             std::chrono::milliseconds ttl,
                             const config::StateQuota& quota) override {
    if (auto ok = hostcall::check_state_key(key); !ok) return ok.error();
    if (expected_version && *expected_version < 0) {
      return hostcall::invalid("expected_version is negative");
    }
    if (ttl.count() < 0 || ttl > kMaxTtl) {
      return hostcall::invalid("state ttl_ms " + std::to_string(ttl.count()) +
                               " is out of range (0 to " + std::to_string(kMaxTtl.count()) + ")");
    }
    // Checked before touching the database: it depends on nothing stored.
    if (value.size() > quota.max_value_bytes) {
      return hostcall::exhausted(
          "state value is " + std::to_string(value.size()) +
          " bytes; the plugin's limit (permissions.state.max_value_bytes) is " +
          std::to_string(quota.max_value_bytes));
    }
    return run("put", true, [&](PgPool::Lease& lease) {
      return put_on(lease, scope, key, value, expected_version, ttl, quota);
    });
  }

  HostResult<bool> erase(const StateScope& scope, const std::string& key,
                         std::optional<int64_t> expected_version) override {
    if (auto ok = hostcall::check_state_key(key); !ok) return ok.error();
    if (expected_version && *expected_version < 0) {
      return hostcall::invalid("expected_version is negative");
    }
    // Without CAS the first statement is the DELETE itself, which a dying server may have
    // committed before the connection broke: not retried, or a retry could report false.
    return run("delete", expected_version.has_value(),
               [&](PgPool::Lease& lease) { return erase_on(lease, scope, key, expected_version); });
  }

  HostResult<StatePage> list(const StateScope& scope, const std::string& prefix,
                             const std::string& cursor, uint32_t limit,
                             bool include_values) override {
    if (auto ok = hostcall::check_state_prefix(prefix); !ok) return ok.error();
    // The cursor is the hex of the last key returned; anything else did not come from us.
    std::string after;
    if (!cursor.empty()) {
      auto decoded = from_hex(cursor);
      if (!decoded || !hostcall::check_state_key(*decoded).ok()) {
        return hostcall::invalid("state list cursor is malformed; pass next_cursor unchanged");
      }
      after = std::move(*decoded);
    }
    if (limit == 0) limit = kDefaultListLimit;
    limit = std::min(limit, kMaxListLimit);
    return run("list", true, [&](PgPool::Lease& lease) -> HostResult<StatePage> {
      // starts_with, not LIKE: '%' and '_' in a prefix are plain characters. COLLATE "C"
      // makes "key order" byte order whatever the database's locale, and keeps the keyset
      // cursor consistent with it. One row past the limit tells whether a next page exists.
      auto r = lease.exec(
          "SELECT key, CASE WHEN $6::boolean THEN encode(value, 'hex') ELSE '' END, "
          "version, " PV_EXPIRES_MS " FROM plugin_state WHERE " PV_SCOPE
          " AND starts_with(key, $3)"
          " AND key COLLATE \"C\" > $4 AND " PV_LIVE " ORDER BY key COLLATE \"C\" LIMIT $5::int",
          {scope.plugin_id, scope.tenant_id, prefix, after, std::to_string(limit + 1),
           include_values ? "true" : "false"});
      if (!r) return db_error("list", lease, r.error());
      StatePage page;
      const int rows = std::min(r->rows(), static_cast<int>(limit));
      page.entries.reserve(static_cast<size_t>(rows));
      for (int i = 0; i < rows; ++i) page.entries.push_back(entry(*r, i, r->text(i, 0), 1));
      if (r->rows() > rows) page.next_cursor = to_hex(page.entries.back().key);
      return page;
    });
  }

  HostResult<uint64_t> purge_expired() override {
    return run("purge", true, [&](PgPool::Lease& lease) -> HostResult<uint64_t> {
      auto r = lease.exec(
          "WITH gone AS (DELETE FROM plugin_state WHERE expires_at <= now()"
          " RETURNING 1) SELECT count(*) FROM gone");
      if (!r) return db_error("purge", lease, r.error());
      return static_cast<uint64_t>(r->int64(0, 0));
    });
  }

 private:
  // Runs `op` on a pooled connection, once more on a fresh one if the pooled one turned out
  // to have died while idle (see Lease::went_stale) and the first statement has no effect.
  template <typename Op>
  std::invoke_result_t<Op&, PgPool::Lease&> run(std::string_view what, bool retry_safe, Op&& op) {
    using R = std::invoke_result_t<Op&, PgPool::Lease&>;
    for (int attempt = 0;; ++attempt) {
      auto lease = pool_.acquire();
      if (!lease) {
        return R(hostcall::unavailable("state store: " + std::string(what) +
                                       " failed: " + lease.error().message));
      }
      R result = op(*lease);
      if (result.ok() || !retry_safe || attempt > 0 || !lease->went_stale()) return result;
    }
  }

  static HostResult<StateEntry> put_on(PgPool::Lease& lease, const StateScope& scope,
                                       const std::string& key, const std::string& value,
                                       std::optional<int64_t> expected_version,
                                       std::chrono::milliseconds ttl,
                                       const config::StateQuota& quota) {
    Transaction tx(lease);
    if (auto b = tx.begin(); !b) return db_error("put", lease, b.error());
    // Quota accounting reads the plugin's totals and then writes a row: two puts of the same
    // plugin in parallel could each see room for one more key. The lock makes it sequential.
    auto locked = lease.exec("SELECT pg_advisory_xact_lock($1::int4, hashtext($2))",
                             {std::string(kQuotaLockClass), scope.plugin_id});
    if (!locked) return db_error("put", lease, locked.error());
    auto actual = locked_version(lease, scope, key);
    if (!actual) return db_error("put", lease, actual.error());
    if (auto ok = check_expected(key, expected_version, *actual); !ok) return ok.error();

    if (auto ok = quota_status(lease, scope, key, quota, key.size() + value.size()); !ok) {
      return ok.error();
    }

    const int64_t version = *actual ? **actual + 1 : 1;  // an expired row starts over
    auto stored = lease.exec(
        "INSERT INTO plugin_state (plugin_id, tenant_id, key, value, version, expires_at,"
        " updated_at) VALUES ($1, $2, $3, decode($4, 'hex'), $5::bigint,"
        " CASE WHEN $6::bigint > 0 THEN now() + $6::bigint * interval '1 millisecond' END, now())"
        " ON CONFLICT (plugin_id, tenant_id, key) DO UPDATE SET value = EXCLUDED.value,"
        " version = EXCLUDED.version, expires_at = EXCLUDED.expires_at, updated_at = now()"
        " RETURNING " PV_EXPIRES_MS,
        {scope.plugin_id, scope.tenant_id, key, to_hex(value), std::to_string(version),
         std::to_string(ttl.count())});
    if (!stored) return db_error("put", lease, stored.error());
    if (auto c = tx.commit(); !c) return db_error("put", lease, c.error());
    StateEntry out;
    out.key = key;
    out.version = version;
    out.expires_at_unix_ms = stored->int64(0, 0);
    return out;
  }

  static HostResult<bool> erase_on(PgPool::Lease& lease, const StateScope& scope,
                                   const std::string& key,
                                   std::optional<int64_t> expected_version) {
    // Deletes an expired row too (it is garbage anyway) but reports only a live one.
    static const std::string kDelete =
        "DELETE FROM plugin_state WHERE " PV_SCOPE " AND key = $3 RETURNING " PV_LIVE;
    if (!expected_version) {
      auto r = lease.exec(kDelete, {scope.plugin_id, scope.tenant_id, key});
      if (!r) return db_error("delete", lease, r.error());
      return r->rows() > 0 && r->boolean(0, 0);
    }
    Transaction tx(lease);
    if (auto b = tx.begin(); !b) return db_error("delete", lease, b.error());
    auto actual = locked_version(lease, scope, key);
    if (!actual) return db_error("delete", lease, actual.error());
    if (auto ok = check_expected(key, expected_version, *actual); !ok) return ok.error();
    if (!*actual) return false;  // expected absent, and it is: nothing to delete
    auto r = lease.exec(kDelete, {scope.plugin_id, scope.tenant_id, key});
    if (!r) return db_error("delete", lease, r.error());
    if (auto c = tx.commit(); !c) return db_error("delete", lease, c.error());
    return true;
  }

  PgPool pool_;
};

#undef PV_LIVE
#undef PV_SCOPE
#undef PV_EXPIRES_MS

}  // namespace

std::unique_ptr<KvStore> make_pg_kv_store(std::string database_url, size_t connections) {
  return std::make_unique<PgKvStore>(std::move(database_url), connections);
}

}  // namespace plugvisor::host
