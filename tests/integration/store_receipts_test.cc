// ReceiptWriter: round trip, batching, the queue bound, and an outage survived in place.
#include <catch2/catch.hpp>
#include <chrono>

#include "pg_cluster.h"
#include "store/connection.h"
#include "store/receipt_writer.h"
#include "store/state_store.h"

using namespace std::chrono_literals;
using namespace std::string_literals;
using plugvisor::dispatch::ErrorCode;
using plugvisor::dispatch::FailPolicy;
using plugvisor::dispatch::Receipt;
using plugvisor::store::Connection;
using plugvisor::store::ReceiptFilter;
using plugvisor::store::ReceiptWriter;
using plugvisor::store::StateStore;
using plugvisor::testsupport::eventually;
using plugvisor::testsupport::TestCluster;

namespace {

Receipt make_receipt(int n, const std::string& plugin = "p1") {
  Receipt r;
  r.dispatch_id = "d" + std::to_string(n);
  r.plugin_id = plugin;
  r.plugin_version = "1.0.0";
  r.hook = "tool.pre_exec";
  r.status = "ok";
  r.duration = std::chrono::microseconds(100 + n);
  r.at_unix_ms = 1700000000000 + n;
  return r;
}

int64_t receipt_rows(const std::string& url) {
  auto conn = Connection::open(url);
  if (!conn.ok()) return -1;
  auto rows = conn->exec("SELECT count(*) FROM receipts");
  return rows.ok() ? rows->int64(0, 0) : -1;
}

// The schema, as plugvisord's start would leave it.
void migrate(const TestCluster& cluster) {
  StateStore store(cluster.url());
  REQUIRE(store.open(10s).ok());
}

plugvisor::config::ReceiptWriterConfig writer_config(size_t capacity, size_t batch) {
  plugvisor::config::ReceiptWriterConfig c;
  c.queue_capacity = capacity;
  c.batch_size = batch;
  c.flush_interval = 50ms;
  return c;
}

}  // namespace

TEST_CASE("a receipt round-trips with every field") {
  auto cluster = TestCluster::start();
  migrate(*cluster);

  Receipt r;
  r.dispatch_id = "dispatch-1";
  r.plugin_id = "redactor";
  r.plugin_version = "2.3.4";
  r.hook = "response.pre_deliver";
  r.status = "failed";
  r.error = ErrorCode::invalid_output;
  r.error_message = "patch touched /secret, \"quoted\" and ünïcödé";
  r.duration = std::chrono::microseconds(123456);
  r.tenant_id = "tenant-7";
  r.work_item_id = "wi-8";
  r.run_id = "run-9";
  r.mutated_paths = {"/response/text", "/response/meta/x"};
  r.fail_policy = FailPolicy::closed;
  r.at_unix_ms = 1712345678901;

  {
    ReceiptWriter writer(cluster->url(), writer_config(100, 10));
    writer.submit({r});
    REQUIRE(writer.flush(10s));
    CHECK(writer.stats().written == 1);
    CHECK(writer.stats().connected);
  }
  StateStore store(cluster->url());
  REQUIRE(store.open(10s).ok());
  auto listed = store.list_receipts(ReceiptFilter{});
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  const Receipt& got = listed->front().receipt;
  CHECK(listed->front().id > 0);
  CHECK(got.dispatch_id == r.dispatch_id);
  CHECK(got.plugin_id == r.plugin_id);
  CHECK(got.plugin_version == r.plugin_version);
  CHECK(got.hook == r.hook);
  CHECK(got.status == r.status);
  CHECK(got.error == r.error);
  CHECK(got.error_message == r.error_message);
  CHECK(got.duration == r.duration);
  CHECK(got.tenant_id == r.tenant_id);
  CHECK(got.work_item_id == r.work_item_id);
  CHECK(got.run_id == r.run_id);
  CHECK(got.mutated_paths == r.mutated_paths);
  CHECK(got.fail_policy == r.fail_policy);
  CHECK(got.at_unix_ms == r.at_unix_ms);
}

TEST_CASE("a plugin's hostile bytes reach the database readable, and nothing else is lost") {
  auto cluster = TestCluster::start();
  migrate(*cluster);

  // Everything COPY's text format gives meaning to, plus what PostgreSQL refuses outright.
  Receipt hostile = make_receipt(1);
  hostile.status = "failed";
  hostile.error = ErrorCode::execution_error;
  hostile.error_message = "tab\tnewline\ncr\rbackslash\\ \\N bad\xFF nul"s + '\0' + "end";
  hostile.mutated_paths = {"/a\tb", "/quote\"and\\"};
  hostile.tenant_id = "";  // optional fields left empty are NULL
  Receipt after = make_receipt(2);
  // A patch key may hold NUL; jsonb cannot, and must not cost the batch.
  after.mutated_paths = {"/nul"s + '\0' + "key"};

  {
    ReceiptWriter writer(cluster->url(), writer_config(100, 10));
    writer.submit({hostile, after});
    REQUIRE(writer.flush(10s));
    CHECK(writer.stats().written == 2);
    CHECK(writer.stats().dropped == 0);
  }
  StateStore store(cluster->url());
  REQUIRE(store.open(10s).ok());
  auto listed = store.list_receipts(ReceiptFilter{});
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  // Newest first.
  const Receipt& got = listed->back().receipt;
  CHECK(got.dispatch_id == hostile.dispatch_id);
  CHECK(got.error_message == "tab\tnewline\ncr\rbackslash\\ \\N bad\xEF\xBF\xBD nulend");
  CHECK(got.mutated_paths == hostile.mutated_paths);
  CHECK(got.tenant_id.empty());
  CHECK(listed->front().receipt.dispatch_id == after.dispatch_id);
  CHECK(listed->front().receipt.mutated_paths == std::vector<std::string>{"/nulkey"});

  auto conn = Connection::open(cluster->url());
  REQUIRE(conn.ok());
  auto nulls = conn->exec("SELECT count(*) FROM receipts WHERE tenant_id IS NULL");
  REQUIRE(nulls.ok());
  CHECK(nulls->int64(0, 0) == 2);
}

TEST_CASE("receipts are written in batches, in submission order") {
  auto cluster = TestCluster::start();
  migrate(*cluster);
  ReceiptWriter writer(cluster->url(), writer_config(10000, 64));
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; i += 10) {
    std::vector<Receipt> chunk;
    for (int j = i; j < i + 10; ++j) chunk.push_back(make_receipt(j));
    writer.submit(std::move(chunk));
  }
  REQUIRE(writer.flush(20s));
  const auto stats = writer.stats();
  CHECK(stats.written == kCount);
  CHECK(stats.dropped == 0);
  CHECK(stats.queued == 0);
  CHECK(receipt_rows(cluster->url()) == kCount);

  auto conn = Connection::open(cluster->url());
  REQUIRE(conn.ok());
  // One statement (one transaction, hence one xmin) per batch, never more than batch_size rows.
  auto batches = conn->exec(
      "SELECT count(*), max(n) FROM (SELECT count(*) AS n FROM receipts GROUP BY xmin::text) b");
  REQUIRE(batches.ok());
  CHECK(batches->int64(0, 0) < kCount / 2);
  CHECK(batches->int64(0, 1) <= 64);
  // Ids follow submission order: the receipt with the highest id is the last one submitted.
  auto order = conn->exec(
      "SELECT bool_and(prev < n) FROM (SELECT substr(dispatch_id, 2)::int AS n, "
      "lag(substr(dispatch_id, 2)::int) OVER (ORDER BY id) AS prev FROM receipts) s "
      "WHERE prev IS NOT NULL");
  REQUIRE(order.ok());
  CHECK(order->boolean(0, 0));
}

TEST_CASE("the queue is bounded: with the database away, the newest are dropped and counted") {
  auto cluster = TestCluster::start();
  migrate(*cluster);
  REQUIRE(cluster->stop().ok());

  ReceiptWriter writer(cluster->url(), writer_config(100, 10));
  std::vector<Receipt> batch;
  for (int i = 0; i < 150; ++i) batch.push_back(make_receipt(i));
  const auto before = std::chrono::steady_clock::now();
  writer.submit(std::move(batch));
  CHECK(std::chrono::steady_clock::now() - before < 500ms);  // never waits on the database
  auto stats = writer.stats();
  CHECK(stats.queued == 100);
  CHECK(stats.dropped == 50);
  CHECK(stats.written == 0);
  CHECK_FALSE(stats.connected);
  CHECK_FALSE(writer.flush(200ms));

  REQUIRE(cluster->restart().ok());
  CHECK(eventually([&] { return writer.stats().written == 100; }, 20s));
  CHECK(receipt_rows(cluster->url()) == 100);
  CHECK(writer.stats().dropped == 50);
  // The oldest 100 are kept: d0..d99.
  auto conn = Connection::open(cluster->url());
  REQUIRE(conn.ok());
  auto max = conn->exec("SELECT max(substr(dispatch_id, 2)::int) FROM receipts");
  REQUIRE(max.ok());
  CHECK(max->int64(0, 0) == 99);
}

TEST_CASE("receipts submitted during an outage arrive after it, with the same writer") {
  auto cluster = TestCluster::start();
  migrate(*cluster);
  ReceiptWriter writer(cluster->url(), writer_config(10000, 50));
  writer.submit({make_receipt(0)});
  REQUIRE(writer.flush(10s));
  REQUIRE(writer.stats().connected);

  REQUIRE(cluster->stop().ok());
  for (int i = 1; i <= 300; ++i) writer.submit({make_receipt(i)});
  // The writer notices at its next write and keeps everything.
  CHECK(eventually([&] { return !writer.stats().connected; }, 10s));
  CHECK(writer.stats().written == 1);
  CHECK(writer.stats().queued == 300);

  REQUIRE(cluster->restart().ok());
  CHECK(eventually([&] { return writer.stats().written == 301; }, 20s));
  CHECK(writer.stats().connected);
  CHECK(writer.stats().dropped == 0);
  CHECK(receipt_rows(cluster->url()) == 301);
}
