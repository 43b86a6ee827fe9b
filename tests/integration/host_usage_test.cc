// UsageStore against a real PostgreSQL: rows recorded by the AI proxy, summed by grouping and
// filters, and a database outage answered as an error value and survived.
#include <catch2/catch.hpp>
#include <chrono>

#include "host/ai/usage_store.h"
#include "pg_cluster.h"
#include "store/connection.h"
#include "store/migrations.h"
#include "supervisor_harness.h"

using plugvisor::host::UsageQuery;
using plugvisor::host::UsageRecord;
using plugvisor::host::UsageRow;
using plugvisor::host::UsageStore;
using plugvisor::hostcall::Code;
using plugvisor::store::apply_migrations;
using plugvisor::store::Connection;
using plugvisor::testsupport::fresh_database;
using plugvisor::testsupport::shared_cluster;
using plugvisor::testsupport::TestCluster;

namespace {

std::string migrated(const std::string& url) {
  auto conn = Connection::open(url);
  REQUIRE(conn.ok());
  REQUIRE(apply_migrations(*conn).ok());
  return url;
}

UsageRecord usage(const std::string& plugin, const std::string& tenant, const std::string& hook,
                  const std::string& model, int64_t prompt, int64_t completion) {
  UsageRecord r;
  r.plugin_id = plugin;
  r.plugin_version = "1.0";
  r.tenant_id = tenant;
  r.hook = hook;
  r.work_item_id = "wi-1";
  r.run_id = "run-1";
  r.invocation_id = "inv-" + plugin + tenant + hook;
  r.model = model;
  r.attempts = 2;
  r.usage = {prompt, completion, prompt + completion};
  return r;
}

bool same(const UsageRow& row, const std::string& plugin, const std::string& tenant,
          const std::string& hook, const std::string& model, int64_t calls, int64_t prompt,
          int64_t completion) {
  return row.plugin_id == plugin && row.tenant_id == tenant && row.hook == hook &&
         row.model == model && row.calls == calls && row.prompt_tokens == prompt &&
         row.completion_tokens == completion && row.total_tokens == prompt + completion;
}

// The row of `rows` with these keys; the order of text keys is the database's collation's.
const UsageRow* find(const std::vector<UsageRow>& rows, const std::string& plugin,
                     const std::string& tenant, const std::string& hook) {
  for (const UsageRow& row : rows) {
    if (row.plugin_id == plugin && row.tenant_id == tenant && row.hook == hook) return &row;
  }
  return nullptr;
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("recorded usage sums by plugin, tenant and hook, by model, and under filters") {
  const std::string url = migrated(fresh_database(shared_cluster()));
  UsageStore store(url);
  // A tenant id that would break naive SQL is only ever a parameter.
  const std::string odd_tenant = "t'; DROP TABLE ai_usage; --";
  for (const UsageRecord& r : {usage("summarise", "t1", "ticket.created", "gpt-a", 100, 10),
                               usage("summarise", "t1", "ticket.created", "gpt-b", 200, 20),
                               usage("summarise", "t1", "ticket.closed", "gpt-a", 5, 1),
                               usage("summarise", "t2", "ticket.created", "gpt-a", 7, 3),
                               usage("triage", "t1", "ticket.created", "gpt-a", 1000, 100),
                               usage("triage", odd_tenant, "ticket.created", "gpt-a", 1, 1)}) {
    auto recorded = store.record(r);
    INFO((recorded.ok() ? "" : recorded.error().message));
    REQUIRE(recorded.ok());
  }

  auto by_default = store.summarise({});
  REQUIRE(by_default.ok());
  REQUIRE(by_default->rows.size() == 5);
  auto check_row = [&](const std::string& plugin, const std::string& tenant,
                       const std::string& hook, int64_t calls, int64_t prompt, int64_t completion) {
    const UsageRow* row = find(by_default->rows, plugin, tenant, hook);
    REQUIRE(row != nullptr);
    CHECK(same(*row, plugin, tenant, hook, "", calls, prompt, completion));
  };
  check_row("summarise", "t1", "ticket.closed", 1, 5, 1);
  check_row("summarise", "t1", "ticket.created", 2, 300, 30);
  check_row("summarise", "t2", "ticket.created", 1, 7, 3);
  check_row("triage", odd_tenant, "ticket.created", 1, 1, 1);
  check_row("triage", "t1", "ticket.created", 1, 1000, 100);
  CHECK(same(by_default->total, "", "", "", "", 6, 1313, 135));

  UsageQuery by_model;
  by_model.group_by = {"model", "model"};
  auto models = store.summarise(by_model);
  REQUIRE(models.ok());
  REQUIRE(models->rows.size() == 2);
  CHECK(same(models->rows[0], "", "", "", "gpt-a", 5, 1113, 115));
  CHECK(same(models->rows[1], "", "", "", "gpt-b", 1, 200, 20));

  UsageQuery filtered;
  filtered.group_by = {"plugin", "tenant"};
  filtered.plugin_id = "summarise";
  filtered.tenant_id = "t1";
  auto one = store.summarise(filtered);
  REQUIRE(one.ok());
  REQUIRE(one->rows.size() == 1);
  CHECK(same(one->rows[0], "summarise", "t1", "", "", 3, 305, 31));

  UsageQuery by_tenant;
  by_tenant.group_by = {"tenant"};
  by_tenant.tenant_id = odd_tenant;
  auto odd = store.summarise(by_tenant);
  REQUIRE(odd.ok());
  REQUIRE(odd->rows.size() == 1);
  CHECK(odd->rows[0].tenant_id == odd_tenant);

  UsageQuery recent;
  recent.group_by = {"plugin"};
  recent.since_unix_ms = now_unix_ms() - 600'000;
  auto all = store.summarise(recent);
  REQUIRE(all.ok());
  CHECK(all->total.calls == 6);
  recent.since_unix_ms = now_unix_ms() + 3'600'000;
  auto none = store.summarise(recent);
  REQUIRE(none.ok());
  CHECK(none->rows.empty());
  CHECK(none->total.calls == 0);

  // Every column of the row, not just the summed ones, is stored.
  auto conn = Connection::open(url);
  REQUIRE(conn.ok());
  auto row = conn->exec(
      "SELECT plugin_version, work_item_id, run_id, invocation_id, attempts FROM ai_usage "
      "WHERE plugin_id = 'triage' AND tenant_id = 't1'");
  REQUIRE(row.ok());
  REQUIRE(row->rows() == 1);
  CHECK(row->text(0, 0) == "1.0");
  CHECK(row->text(0, 1) == "wi-1");
  CHECK(row->text(0, 2) == "run-1");
  CHECK(row->text(0, 3) == "inv-triaget1ticket.created");
  CHECK(row->int64(0, 4) == 2);
}

TEST_CASE("group_by names outside the whitelist are invalid_argument") {
  UsageStore store(migrated(fresh_database(shared_cluster())));
  UsageQuery query;
  query.group_by = {"plugin", "plugin_id; DROP TABLE ai_usage"};
  auto result = store.summarise(query);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Code::invalid_argument);
  CHECK_THAT(result.error().message, Catch::Contains("group_by"));
}

TEST_CASE("a database outage is an error value, and the store reconnects after it") {
  auto cluster = TestCluster::start();
  UsageStore store(migrated(cluster->url()));
  REQUIRE(store.record(usage("p", "t", "h", "m", 1, 1)).ok());

  REQUIRE(cluster->stop().ok());
  auto down = store.record(usage("p", "t", "h", "m", 2, 2));
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().code == Code::unavailable);
  auto unsummed = store.summarise({});
  REQUIRE_FALSE(unsummed.ok());
  CHECK(unsummed.error().code == Code::unavailable);

  REQUIRE(cluster->restart().ok());
  auto back = store.record(usage("p", "t", "h", "m", 4, 4));
  INFO((back.ok() ? "" : back.error().message));
  REQUIRE(back.ok());
  auto summary = store.summarise({});
  REQUIRE(summary.ok());
  CHECK(same(summary->total, "", "", "", "", 2, 5, 5));
}

TEST_CASE("a store whose database never answers fails its calls instead of throwing") {
  UsageStore store("host=127.0.0.1 port=1 dbname=none user=none");
  auto recorded = store.record(usage("p", "t", "h", "m", 1, 1));
  REQUIRE_FALSE(recorded.ok());
  CHECK(recorded.error().code == Code::unavailable);
  CHECK_THAT(recorded.error().message, Catch::StartsWith("ai usage: "));
}
