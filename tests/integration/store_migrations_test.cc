// Migrations: compiled in, applied once, replayable, safe when several supervisors start at once.
#include <catch2/catch.hpp>
#include <thread>

#include "pg_cluster.h"
#include "store/migrations.h"

using plugvisor::Status;
using plugvisor::store::apply_migrations;
using plugvisor::store::Connection;
using plugvisor::store::embedded_migrations;
using plugvisor::testsupport::TestCluster;

namespace {

int64_t scalar(Connection& conn, const std::string& sql) {
  auto rows = conn.exec(sql);
  REQUIRE(rows.ok());
  REQUIRE(rows->rows() == 1);
  return rows->int64(0, 0);
}

}  // namespace

TEST_CASE("the migrations are compiled in, ordered by version") {
  const auto& all = embedded_migrations();
  REQUIRE_FALSE(all.empty());
  CHECK(all.front().version == 1);
  CHECK(all.front().name == "0001_init");
  CHECK(all.front().sql.find("CREATE TABLE receipts") != std::string_view::npos);
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].version < all[i].version);
}

TEST_CASE("migrations apply once and replay as a no-op") {
  auto cluster = TestCluster::start();
  auto conn = Connection::open(cluster->url());
  REQUIRE(conn.ok());

  REQUIRE(apply_migrations(*conn).ok());
  const auto count = static_cast<int64_t>(embedded_migrations().size());
  CHECK(scalar(*conn, "SELECT count(*) FROM plugvisor_schema_migrations") == count);
  for (const char* table : {"plugins", "events", "receipts", "plugvisor_schema_migrations"}) {
    INFO(table);
    CHECK(scalar(*conn, std::string("SELECT count(*) FROM pg_tables WHERE tablename = '") + table +
                            "'") == 1);
  }
  CHECK(scalar(*conn,
               "SELECT count(*) FROM pg_indexes WHERE indexname IN ('receipts_plugin_id', "
               "'receipts_dispatch', 'receipts_hook_id', 'events_plugin_seq')") == 4);

  auto first_applied = conn->exec("SELECT applied_at::text FROM plugvisor_schema_migrations");
  REQUIRE(first_applied.ok());
  REQUIRE(apply_migrations(*conn).ok());
  REQUIRE(apply_migrations(*conn).ok());
  CHECK(scalar(*conn, "SELECT count(*) FROM plugvisor_schema_migrations") == count);
  auto applied = conn->exec("SELECT applied_at::text FROM plugvisor_schema_migrations");
  REQUIRE(applied.ok());
  CHECK(applied->text(0, 0) == first_applied->text(0, 0));
  // The session lock is given back.
  CHECK(scalar(*conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0);
}

TEST_CASE("migrations are safe to run concurrently") {
  auto cluster = TestCluster::start();
  auto admin = Connection::open(cluster->url());
  REQUIRE(admin.ok());

  // Several fresh databases, each migrated by two supervisors racing each other.
  for (int round = 0; round < 5; ++round) {
    const std::string db = "race" + std::to_string(round);
    REQUIRE(admin->exec("CREATE DATABASE " + db).ok());
    const std::string url = cluster->url() + " dbname=" + db;  // the last dbname wins

    Status results[2];
    std::thread racers[2];
    for (int i = 0; i < 2; ++i) {
      racers[i] = std::thread([&url, &results, i] {
        auto conn = Connection::open(url);
        if (!conn.ok()) {
          results[i] = conn.error();
          return;
        }
        results[i] = apply_migrations(*conn);
      });
    }
    for (auto& t : racers) t.join();
    for (const auto& r : results) {
      INFO((r.ok() ? std::string("ok") : r.error().message));
      CHECK(r.ok());
    }
    auto conn = Connection::open(url);
    REQUIRE(conn.ok());
    CHECK(scalar(*conn, "SELECT count(*) FROM plugvisor_schema_migrations") ==
          static_cast<int64_t>(embedded_migrations().size()));
  }
}
