// The host.v1 State* quotas against a real PostgreSQL: refusals that name the limit and the use
// and write nothing, the per-plugin totals the quota check reads (schemas/sql/0003), expired
// rows giving their room back, and no over-admission under concurrent puts.
#include <atomic>
#include <thread>

#include "host_state_fixture.h"

using namespace plugvisor::statetest;

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
