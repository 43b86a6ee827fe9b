// The host.v1 State* store against a real PostgreSQL: binary values, versions and CAS, expiry,
// prefix listing with cursors, quotas (also under concurrency), scope isolation, and outages
// answered as error values.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host/state/kv_store.h"
#include "pg_cluster.h"
#include "store/connection.h"
#include "store/migrations.h"
#include "supervisor_harness.h"

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

namespace {

const StateScope kOwn{"plug-a", ""};
const StateQuota kRoomy{};

std::string migrated(const std::string& url) {
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
void check_unavailable(const R& result, const std::string& op) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Code::unavailable);
  CHECK_THAT(result.error().message, Catch::StartsWith("state store: " + op + " failed: "));
}

// prefix + n in three digits, so that key order is numeric order.
std::string key_n(const std::string& prefix, int n) {
  return prefix + std::to_string(1000 + n).substr(1);
}

}  // namespace

TEST_CASE("state values round-trip as bytes and versions count puts") {
  Fixture f;
  const std::string binary("a\0b\xff\x00\x80\x7f\n'\\x", 11);
  CHECK_FALSE(f.value(kOwn, "k").has_value());

  auto put = f.store->put(kOwn, "k", binary, std::nullopt, 0ms, kRoomy);
  REQUIRE(put.ok());
  CHECK((put->key == "k" && put->version == 1 && put->value.empty()));
  CHECK(put->expires_at_unix_ms == 0);
  CHECK(f.value(kOwn, "k") == binary);

  CHECK(f.put(kOwn, "k", "") == 2);
  CHECK(f.value(kOwn, "k") == std::string());
  CHECK(f.put(kOwn, "k", std::string(3000, '\xff')) == 3);
  CHECK(f.value(kOwn, "k") == std::string(3000, '\xff'));

  CHECK(f.erase(kOwn, "k"));
  CHECK_FALSE(f.value(kOwn, "k").has_value());
  CHECK_FALSE(f.erase(kOwn, "k"));
  CHECK(f.put(kOwn, "k", "again") == 1);  // a deleted key starts over
}

TEST_CASE("state keys are checked before the database sees them") {
  Fixture f;
  CHECK(f.store->get(kOwn, "").error().code == Code::invalid_argument);
  CHECK(f.refused(kOwn, std::string(513, 'k'), "v").code == Code::invalid_argument);
  CHECK(f.refused(kOwn, "bad\x01key", "v").code == Code::invalid_argument);
  CHECK(f.store->erase(kOwn, "\xff", std::nullopt).error().code == Code::invalid_argument);
  CHECK(f.store->list(kOwn, "\xc3", "", 0, false).error().code == Code::invalid_argument);
  CHECK(f.refused(kOwn, "k", "v", -1).code == Code::invalid_argument);
  CHECK(f.refused(kOwn, "k", "v", std::nullopt, kRoomy, -5ms).code == Code::invalid_argument);
  CHECK(f.put(kOwn, std::string(512, 'k'), "v") == 1);
  CHECK(f.rows("plug-a") == 1);
}

TEST_CASE("compare-and-set on put and delete") {
  Fixture f;
  CHECK(f.put(kOwn, "k", "v1", 0) == 1);
  auto lost = f.refused(kOwn, "k", "v2", 0);
  CHECK(lost.code == Code::aborted);
  CHECK(lost.message == "state key k: expected absent, but it is at version 1");

  CHECK(f.put(kOwn, "k", "v2", 1) == 2);
  lost = f.refused(kOwn, "k", "v3", 1);
  CHECK(lost.code == Code::aborted);
  CHECK(lost.message == "state key k: expected version 1, but it is at version 2");
  CHECK(f.value(kOwn, "k") == "v2");

  lost = f.refused(kOwn, "other", "v", 4);
  CHECK(lost.message == "state key other: expected version 4, but it is absent");
  CHECK_FALSE(f.value(kOwn, "other").has_value());

  auto erased = f.store->erase(kOwn, "k", 1);
  REQUIRE_FALSE(erased.ok());
  CHECK(erased.error().code == Code::aborted);
  CHECK(f.value(kOwn, "k") == "v2");
  erased = f.store->erase(kOwn, "k", 0);
  REQUIRE_FALSE(erased.ok());
  CHECK(erased.error().code == Code::aborted);
  CHECK(f.erase(kOwn, "k", 2));
  CHECK_FALSE(f.erase(kOwn, "k", 0));  // absent, as expected: nothing to delete
  CHECK(f.rows("plug-a") == 0);
}

TEST_CASE("expired keys are absent everywhere and purge deletes them") {
  Fixture f;
  const auto before = std::chrono::system_clock::now();
  auto put = f.store->put(kOwn, "short", "v", std::nullopt, 200ms, kRoomy);
  REQUIRE(put.ok());
  const auto at =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(put->expires_at_unix_ms));
  CHECK(at >= before + 150ms);
  CHECK(at <= std::chrono::system_clock::now() + 250ms);
  CHECK(eventually([&] { return !f.value(kOwn, "short").has_value(); }, 10s));

  // The rest without waiting: expiry moved into the past directly.
  CHECK(f.put(kOwn, "k", "v") == 1);
  CHECK(f.put(kOwn, "k", "v") == 2);
  f.put(kOwn, "keep", "v");
  f.expire("plug-a", "k");
  CHECK_FALSE(f.value(kOwn, "k").has_value());
  CHECK(f.keys(kOwn, "") == std::vector<std::string>{"keep"});
  CHECK(f.refused(kOwn, "k", "v", 2).message ==
        "state key k: expected version 2, but it is absent");
  CHECK_FALSE(f.erase(kOwn, "k"));

  f.put(kOwn, "k", "v");
  f.expire("plug-a", "k");
  CHECK(f.put(kOwn, "k", "new", 0) == 1);  // overwriting an expired row starts over
  CHECK(f.value(kOwn, "k") == "new");

  f.expire("plug-a", "k");
  f.expire("plug-a", "keep");
  auto purged = f.store->purge_expired();
  REQUIRE(purged.ok());
  CHECK(*purged == 3);  // "short", "k", "keep"
  CHECK(f.rows("plug-a") == 0);
}

TEST_CASE("list pages through a prefix in key order") {
  Fixture f;
  for (int i = 249; i >= 0; --i) f.put(kOwn, key_n("p/", i), "v" + std::to_string(i));
  f.put(kOwn, "p", "not under p/");
  f.put(kOwn, "q/001", "other prefix");
  f.put({"plug-a", "t1"}, "p/999", "other tenant");

  std::vector<std::string> seen;
  std::string cursor;
  std::vector<size_t> sizes;
  do {
    auto page = f.store->list(kOwn, "p/", cursor, 100, true);
    REQUIRE(page.ok());
    sizes.push_back(page->entries.size());
    for (const auto& e : page->entries) {
      CHECK(e.value == "v" + std::to_string(std::stoi(e.key.substr(2))));
      CHECK(e.version == 1);
      seen.push_back(e.key);
    }
    cursor = page->next_cursor;
  } while (!cursor.empty());
  CHECK(sizes == std::vector<size_t>{100, 100, 50});
  REQUIRE(seen.size() == 250);
  for (int i = 0; i < 250; ++i) CHECK(seen[i] == key_n("p/", i));

  auto all = f.store->list(kOwn, "", "", 0, false);  // 0: 100
  REQUIRE(all.ok());
  CHECK((all->entries.size() == 100 && all->entries[0].key == "p"));
  CHECK(all->entries[1].value.empty());
  CHECK_FALSE(all->next_cursor.empty());
  auto capped = f.store->list(kOwn, "", "", 5000, false);
  REQUIRE(capped.ok());
  CHECK((capped->entries.size() == 252 && capped->next_cursor.empty()));

  for (const char* bad : {"zz", "abc", "00", "not a cursor"}) {
    CHECK(f.store->list(kOwn, "p/", bad, 10, false).error().code == Code::invalid_argument);
  }
}

TEST_CASE("a list prefix matches literally, with no LIKE wildcards") {
  Fixture f;
  for (const char* k : {"a%b", "a%bc", "a_b", "axb", "aXb", "a\\b"}) f.put(kOwn, k, "v");
  auto keys = [&](const char* prefix) { return f.keys(kOwn, prefix); };
  CHECK(keys("a%") == std::vector<std::string>{"a%b", "a%bc"});
  CHECK(keys("a_") == std::vector<std::string>{"a_b"});
  CHECK(keys("a\\") == std::vector<std::string>{"a\\b"});
  CHECK(keys("a").size() == 6);
  CHECK(keys("b").empty());
}

TEST_CASE("quotas refuse with the limit and the use, and write nothing") {
  Fixture f;
  StateQuota q;
  q.max_value_bytes = 10;
  auto big = f.refused(kOwn, "k", std::string(11, 'x'), std::nullopt, q);
  CHECK(big.code == Code::resource_exhausted);
  CHECK(big.message ==
        "state value is 11 bytes; the plugin's limit (permissions.state.max_value_bytes) is 10");
  CHECK(f.put(kOwn, "k", std::string(10, 'x'), std::nullopt, q) == 1);

  q = StateQuota{};
  q.max_keys = 3;
  f.put(kOwn, "k", "v", std::nullopt, q);
  f.put({"plug-a", "t1"}, "k", "v", std::nullopt, q);  // tenants share the plugin's quota
  f.put({"plug-a", "t2"}, "k", "v", std::nullopt, q);
  auto full = f.refused(kOwn, "k4", "v", std::nullopt, q);
  CHECK(full.code == Code::resource_exhausted);
  CHECK(full.message ==
        "state quota permissions.state.max_keys exceeded: the limit is 3 keys and the plugin "
        "already has 3");
  CHECK_FALSE(f.value(kOwn, "k4").has_value());
  CHECK(f.put(kOwn, "k", "replaced", std::nullopt, q) == 3);      // a replacement adds no key
  CHECK(f.put({"plug-b", ""}, "k4", "v", std::nullopt, q) == 1);  // another plugin's quota
  f.expire("plug-a", "k");
  CHECK(f.put(kOwn, "k4", "v", std::nullopt, q) == 1);  // expired rows do not count
  CHECK(f.rows("plug-a") == 4);

  Fixture g;
  q = StateQuota{};
  q.max_bytes = 100;
  g.put(kOwn, "k1", std::string(40, 'x'), std::nullopt, q);  // 42 bytes
  g.put(kOwn, "k2", std::string(40, 'x'), std::nullopt, q);  // 84
  auto over = g.refused(kOwn, "k3", std::string(20, 'x'), std::nullopt, q);
  CHECK(over.code == Code::resource_exhausted);
  CHECK(over.message ==
        "state quota permissions.state.max_bytes exceeded: the limit is 100 bytes (keys + "
        "values), the plugin uses 84 and this put needs 22");
  CHECK_FALSE(g.value(kOwn, "k3").has_value());
  CHECK(g.put(kOwn, "k1", std::string(56, 'x'), std::nullopt, q) == 2);  // 84 - 42 + 58 = 100
  g.expire("plug-a", "k2");
  CHECK(g.put(kOwn, "k3", std::string(20, 'x'), std::nullopt, q) == 1);
}

TEST_CASE("the quota totals follow puts, overwrites, deletes, expiry and purge") {
  Fixture f;
  auto matches = [&](const std::string& plugin) {
    INFO(plugin);
    CHECK(f.usage(plugin) == f.usage(plugin, true));
  };
  const StateScope a_t1{"plug-a", "t1"}, b_own{"plug-b", ""};
  for (int i = 0; i < 30; ++i) f.put(i % 2 ? kOwn : a_t1, key_n("k", i), std::string(i, 'x'));
  f.put(b_own, "k", "b");
  f.put(kOwn, key_n("k", 1), std::string(500, 'y'));  // grows
  f.put(kOwn, key_n("k", 3), "");                     // shrinks
  f.put(kOwn, key_n("k", 5), std::string(5, 'z'));    // same size
  CHECK(f.erase(kOwn, key_n("k", 7)));
  CHECK(f.erase(a_t1, key_n("k", 8), 1));
  CHECK(f.usage("plug-a").first == 28);
  matches("plug-a");
  matches("plug-b");

  for (int i = 10; i < 20; ++i) f.expire("plug-a", key_n("k", i));
  f.expire("plug-b", "k");
  matches("plug-a");                       // expired rows still count until they are gone
  f.put(kOwn, key_n("k", 11), "back");     // replaces an expired row
  auto purged = f.store->purge_expired();  // one statement over both plugins
  REQUIRE(purged.ok());
  CHECK(*purged == 10);
  CHECK(f.usage("plug-a").first == 19);
  matches("plug-a");
  CHECK(f.usage("plug-b") == std::pair<int64_t, int64_t>(0, 0));
  matches("plug-b");
}

TEST_CASE("expired rows give their room back before they are purged") {
  Fixture f;
  StateQuota q;
  q.max_keys = 3;
  q.max_bytes = 40;
  const StateScope t1{"plug-a", "t1"};
  f.put(kOwn, "a", std::string(9, 'x'), std::nullopt, q);  // 10 bytes
  f.put(t1, "b", std::string(9, 'x'), std::nullopt, q);    // 20
  f.put(kOwn, "c", std::string(9, 'x'), std::nullopt, q);  // 30
  f.expire("plug-a", "a");
  f.expire("plug-a", "b");
  // The totals still hold 3 keys and 30 bytes; the live rows only c.
  CHECK(f.put(kOwn, "d", std::string(29, 'x'), std::nullopt, q) == 1);  // 10 + 30 = 40
  auto full = f.refused(t1, "e", "", std::nullopt, q);
  CHECK(full.message ==
        "state quota permissions.state.max_bytes exceeded: the limit is 40 bytes (keys + "
        "values), the plugin uses 40 and this put needs 1");
  CHECK(f.put(kOwn, "d", std::string(28, 'x'), std::nullopt, q) == 2);  // the live use is 39
  CHECK(f.put(t1, "e", "", std::nullopt, q) == 1);
  full = f.refused(kOwn, "f", "", std::nullopt, q);
  CHECK(full.message ==
        "state quota permissions.state.max_keys exceeded: the limit is 3 keys and the plugin "
        "already has 3");
  // Replacing an expired row of the plugin's own counts only the new value.
  f.expire("plug-a", "e");
  CHECK(f.put(t1, "b", "", std::nullopt, q) == 1);
  CHECK(f.rows("plug-a") == 5);  // nothing was purged on the way
  CHECK(f.usage("plug-a") == f.usage("plug-a", true));
}

TEST_CASE("the usage migration counts the rows already there") {
  auto url = fresh_database(shared_cluster());
  auto conn = Connection::open(url);
  REQUIRE(conn.ok());
  // The database as a build without 0003 left it: earlier migrations and some state.
  for (const auto& m : embedded_migrations()) {
    if (m.version >= 3) break;
    REQUIRE(conn->exec_script(std::string(m.sql)).ok());
    REQUIRE(
        conn->exec("INSERT INTO plugvisor_schema_migrations(version, name) VALUES ($1::int, $2)",
                   {std::to_string(m.version), std::string(m.name)})
            .ok());
  }
  REQUIRE(
      conn->exec_script("INSERT INTO plugin_state (plugin_id, tenant_id, key, value, expires_at)"
                        " VALUES ('plug-a', '', 'k1', '\\x0102', NULL),"
                        " ('plug-a', 't1', 'k2', 'abc', now() - interval '1 hour'),"
                        " ('plug-b', '', 'key', '', NULL)")
          .ok());
  REQUIRE(apply_migrations(*conn).ok());

  Fixture f{url};
  CHECK(f.usage("plug-a") == std::pair<int64_t, int64_t>(2, 9));
  CHECK(f.usage("plug-b") == std::pair<int64_t, int64_t>(1, 3));
  StateQuota q;
  q.max_keys = 2;
  CHECK(f.put(kOwn, "k3", "v", std::nullopt, q) == 1);  // k2 has expired
  CHECK(f.refused(kOwn, "k4", "v", std::nullopt, q).code == Code::resource_exhausted);
  CHECK(f.usage("plug-a") == f.usage("plug-a", true));
}

TEST_CASE("scopes never see each other's keys") {
  Fixture f;
  const StateScope a_t1{"plug-a", "t1"}, a_t2{"plug-a", "t2"}, b_own{"plug-b", ""};
  const std::vector<std::pair<StateScope, std::string>> all = {
      {kOwn, "own"}, {a_t1, "t1"}, {a_t2, "t2"}, {b_own, "b"}};
  for (const auto& [scope, value] : all) f.put(scope, "k", value);
  for (const auto& [scope, value] : all) CHECK(f.value(scope, "k") == value);
  CHECK_FALSE(f.value({"plug-b", "t1"}, "k").has_value());

  // Versions and CAS are per scope too.
  CHECK(f.put(a_t1, "k", "t1 again", 1) == 2);
  CHECK(f.put(kOwn, "k", "own again", 1) == 2);

  CHECK(f.erase(a_t2, "k"));
  CHECK_FALSE(f.value(a_t2, "k").has_value());
  CHECK(f.value(a_t1, "k") == "t1 again");
  CHECK(f.value(b_own, "k") == "b");

  f.put(a_t1, "only-t1", "v");
  f.put(b_own, "only-b", "v");
  CHECK(f.keys(a_t1, "") == std::vector<std::string>{"k", "only-t1"});
  CHECK(f.keys(b_own, "") == std::vector<std::string>{"k", "only-b"});
  CHECK(f.keys(kOwn, "") == std::vector<std::string>{"k"});
}

TEST_CASE("concurrent puts never admit more keys than the quota") {
  Fixture f;
  StateQuota q;
  q.max_keys = 20;
  std::atomic<int> stored{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const StateScope scope{"plug-a", "t" + std::to_string(t % 3)};
        auto r =
            f.store->put(scope, key_n("w" + std::to_string(t) + "-", i), "v", std::nullopt, 0ms, q);
        ++(r.ok() ? stored : r.error().code == Code::resource_exhausted ? refused : other);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(stored == 20);
  CHECK(refused == 40);
  CHECK(other == 0);
  CHECK(f.rows("plug-a") == 20);
}

TEST_CASE("concurrent compare-and-set increments lose no update") {
  Fixture f;
  f.put(kOwn, "counter", "0");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < 10;) {
        auto cur = f.store->get(kOwn, "counter");
        if (!cur.ok() || !cur->has_value()) return;
        const int n = std::stoi((*cur)->value);
        auto r = f.store->put(kOwn, "counter", std::to_string(n + 1), (*cur)->version, 0ms, kRoomy);
        if (r.ok()) ++done;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(f.value(kOwn, "counter") == "40");
  CHECK(f.put(kOwn, "counter", "done", 41) == 42);  // 1 + 40 puts, none lost
}

TEST_CASE("an unreachable database is unavailable, as a value") {
  auto store = make_pg_kv_store("host=/nonexistent dbname=plugvisor", 2);
  auto got = store->get(kOwn, "k");
  check_unavailable(got, "get");
  CHECK_THAT(got.error().message, Catch::Contains("connect to host=/nonexistent") &&
                                      Catch::Contains("No such file or directory"));
  check_unavailable(store->put(kOwn, "k", "v", std::nullopt, 0ms, kRoomy), "put");
  check_unavailable(store->erase(kOwn, "k", std::nullopt), "delete");
  check_unavailable(store->list(kOwn, "", "", 0, false), "list");
  check_unavailable(store->purge_expired(), "purge");
}

TEST_CASE("the store survives a database restart") {
  auto cluster = TestCluster::start();
  const std::string url = migrated(cluster->url());
  auto store = make_pg_kv_store(url, 2);
  REQUIRE(store->put(kOwn, "k", "before", std::nullopt, 0ms, kRoomy).ok());
  REQUIRE(store->get(kOwn, "k").ok());

  REQUIRE(cluster->stop().ok());
  check_unavailable(store->put(kOwn, "k", "during", std::nullopt, 0ms, kRoomy), "put");

  REQUIRE(cluster->restart().ok());
  auto got = store->get(kOwn, "k");  // the broken connection was replaced
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->value == "before");  // the failed put left nothing behind
  CHECK((*got)->version == 1);

  // Pooled connections that sat idle across a restart are retried on a fresh one.
  REQUIRE(cluster->stop().ok());
  REQUIRE(cluster->restart().ok());
  auto after = store->put(kOwn, "k", "after", 1, 0ms, kRoomy);
  REQUIRE(after.ok());
  CHECK(after->version == 2);
}
