// What the host.v1 State* store tests share (host_state_test.cc, host_state_quota_test.cc): a
// store on a fresh, migrated database and helpers that REQUIRE each step.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/state/kv_store.h"
#include "pg_cluster.h"
#include "store/connection.h"
#include "store/migrations.h"
#include "supervisor_harness.h"

namespace plugvisor::statetest {

using namespace std::chrono_literals;
using plugvisor::config::StateQuota;
using plugvisor::host::KvStore;
using plugvisor::host::make_pg_kv_store;
using plugvisor::host::StateScope;
using plugvisor::hostcall::Code;
using plugvisor::hostcall::HostError;
using plugvisor::store::apply_migrations;
using plugvisor::store::Connection;
using plugvisor::store::embedded_migrations;
using plugvisor::testsupport::eventually;
using plugvisor::testsupport::fresh_database;
using plugvisor::testsupport::shared_cluster;
using plugvisor::testsupport::TestCluster;

inline const StateScope kOwn{"plug-a", ""};
inline const StateQuota kRoomy{};

inline std::string migrated(const std::string& url) {
  auto conn = Connection::open(url);
  REQUIRE(conn.ok());
  REQUIRE(apply_migrations(*conn).ok());
  return url;
}

// A store on a fresh, migrated database, plus a side connection for checking rows directly.
struct Fixture {
  std::string url = migrated(fresh_database(shared_cluster()));
  std::unique_ptr<KvStore> store = make_pg_kv_store(url, 4);
  Connection sql = Connection::open(url).value();

  int64_t rows(const std::string& plugin) {
    auto r = sql.exec("SELECT count(*) FROM plugin_state WHERE plugin_id = $1", {plugin});
    REQUIRE(r.ok());
    return r->int64(0, 0);
  }
  void expire(const std::string& plugin, const std::string& key) {
    REQUIRE(sql.exec("UPDATE plugin_state SET expires_at = now() - interval '1 second'"
                     " WHERE plugin_id = $1 AND key = $2",
                     {plugin, key})
                .ok());
  }
  int64_t put(const StateScope& scope, const std::string& key, const std::string& value,
              std::optional<int64_t> expected = std::nullopt, const StateQuota& q = kRoomy) {
    auto r = store->put(scope, key, value, expected, 0ms, q);
    REQUIRE(r.ok());
    return r->version;
  }
  std::optional<std::string> value(const StateScope& scope, const std::string& key) {
    auto r = store->get(scope, key);
    REQUIRE(r.ok());
    return r->has_value() ? std::optional<std::string>((*r)->value) : std::nullopt;
  }
  // A put that must fail: its error.
  HostError refused(const StateScope& scope, const std::string& key, const std::string& value,
                    std::optional<int64_t> expected = std::nullopt, const StateQuota& q = kRoomy,
                    std::chrono::milliseconds ttl = 0ms) {
    auto r = store->put(scope, key, value, expected, ttl, q);
    REQUIRE_FALSE(r.ok());
    return r.error();
  }
  bool erase(const StateScope& scope, const std::string& key,
             std::optional<int64_t> expected = std::nullopt) {
    auto r = store->erase(scope, key, expected);
    REQUIRE(r.ok());
    return *r;
  }
  // {keys, bytes} of the plugin: from the totals the triggers keep, and summed from its rows.
  std::pair<int64_t, int64_t> usage(const std::string& plugin, bool from_rows = false) {
    auto r = sql.exec(from_rows ? "SELECT count(*), coalesce(sum(octet_length(key) + "
                                  "octet_length(value)), 0) FROM plugin_state WHERE plugin_id = $1"
                                : "SELECT keys, bytes FROM plugin_state_usage WHERE plugin_id = $1",
                      {plugin});
    REQUIRE(r.ok());
    return r->rows() == 0 ? std::pair<int64_t, int64_t>()
                          : std::pair(r->int64(0, 0), r->int64(0, 1));
  }
  std::vector<std::string> keys(const StateScope& scope, const std::string& prefix) {
    auto page = store->list(scope, prefix, "", 0, false);
    REQUIRE(page.ok());
    std::vector<std::string> out;
    for (const auto& e : page->entries) out.push_back(e.key);
    return out;
  }
};

template <typename R>
inline void check_unavailable(const R& result, const std::string& op) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Code::unavailable);
  CHECK_THAT(result.error().message, Catch::StartsWith("state store: " + op + " failed: "));
}

// prefix + n in three digits, so that key order is numeric order.
inline std::string key_n(const std::string& prefix, int n) {
  return prefix + std::to_string(1000 + n).substr(1);
}

}  // namespace plugvisor::statetest
