// The host.v1 State* store against a real PostgreSQL: binary values, versions and CAS, expiry,
// prefix listing with cursors, scope isolation, and outages answered as error values. Quotas are
// in host_state_quota_test.cc.
#include <atomic>
#include <thread>

#include "host_state_fixture.h"

using namespace plugvisor::statetest;

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
