// StateStore: ordered writes that survive instances and outages, reads that fail fast,
// receipt and event queries.
#include <catch2/catch.hpp>
#include <chrono>

#include "pg_cluster.h"
#include "store/connection.h"
#include "store/receipt_writer.h"
#include "store/state_store.h"

using namespace std::chrono_literals;
using plugvisor::dispatch::Receipt;
using plugvisor::store::Connection;
using plugvisor::store::EventFilter;
using plugvisor::store::EventRecord;
using plugvisor::store::PluginRow;
using plugvisor::store::ReceiptFilter;
using plugvisor::store::ReceiptWriter;
using plugvisor::store::StateStore;
using plugvisor::testsupport::eventually;
using plugvisor::testsupport::TestCluster;

namespace {

EventRecord event(const std::string& plugin, const std::string& kind, const std::string& state,
                  int n) {
  EventRecord e;
  e.plugin_id = plugin;
  e.kind = kind;
  e.state = state;
  e.detail = {{"n", n}};
  return e;
}

}  // namespace

TEST_CASE("plugin rows, events and the enabled flag survive a new StateStore") {
  auto cluster = TestCluster::start();
  EventRecord duplicated = event("a", "spawn", "starting", 0);
  duplicated.id = "fixed-event-id";
  {
    StateStore store(cluster->url());
    REQUIRE(store.open(10s).ok());
    store.append_event(duplicated);
    store.append_event(event("a", "ready", "ready", 1));
    store.append_event(event("b", "exit", "backoff", 2));
    store.append_event(duplicated);  // a retried write: stored once
    store.save_state(PluginRow{"a", "1.0", "ready", true, "", 0}, 4242);
    store.save_state(PluginRow{"b", "2.0", "backoff", true, "", 3}, 0);
    store.set_enabled("b", false, "crash_loop");
    // save_state never touches the flag an operator or the guard set.
    store.save_state(PluginRow{"b", "2.0", "disabled", true, "", 5}, 0);
    store.set_enabled("ghost", false, "operator");  // no row yet: created
    REQUIRE(store.flush(10s));
    CHECK(store.pending() == 0);
    CHECK(store.connected());
  }

  StateStore store(cluster->url());
  REQUIRE(store.open(10s).ok());
  auto plugins = store.load_plugins();
  REQUIRE(plugins.ok());
  REQUIRE(plugins->size() == 3);
  const PluginRow& a = (*plugins)[0];
  const PluginRow& b = (*plugins)[1];
  const PluginRow& ghost = (*plugins)[2];
  CHECK((a.id == "a" && a.version == "1.0" && a.state == "ready" && a.enabled));
  CHECK(a.disabled_reason.empty());
  CHECK((b.id == "b" && b.state == "disabled" && b.restarts == 5));
  CHECK_FALSE(b.enabled);
  CHECK(b.disabled_reason == "crash_loop");
  CHECK((ghost.id == "ghost" && !ghost.enabled && ghost.disabled_reason == "operator"));

  auto events = store.recent_events(EventFilter{});
  REQUIRE(events.ok());
  REQUIRE(events->size() == 3);
  CHECK((*events)[0].id == "fixed-event-id");
  CHECK((*events)[0].kind == "spawn");
  CHECK((*events)[1].kind == "ready");
  CHECK((*events)[2].plugin_id == "b");
  CHECK((*events)[2].state == "backoff");
  CHECK((*events)[2].detail == nlohmann::json{{"n", 2}});
  CHECK((*events)[0].at_unix_ms > 0);

  // Enabling again clears the reason.
  store.set_enabled("b", true, "");
  REQUIRE(store.flush(10s));
  plugins = store.load_plugins();
  REQUIRE(plugins.ok());
  CHECK((*plugins)[1].enabled);
  CHECK((*plugins)[1].disabled_reason.empty());
}

TEST_CASE("recent_events returns the newest matching events, oldest first") {
  auto cluster = TestCluster::start();
  StateStore store(cluster->url());
  REQUIRE(store.open(10s).ok());
  for (int i = 0; i < 20; ++i) {
    store.append_event(
        event(i % 2 == 0 ? "even" : "odd", i % 4 < 2 ? "circuit.open" : "exit", "", i));
  }
  REQUIRE(store.flush(10s));

  auto newest = store.recent_events(EventFilter{"", "", 5});
  REQUIRE(newest.ok());
  REQUIRE(newest->size() == 5);
  for (int i = 0; i < 5; ++i) CHECK((*newest)[i].detail["n"] == 15 + i);

  auto even = store.recent_events(EventFilter{"even", "", 3});
  REQUIRE(even.ok());
  REQUIRE(even->size() == 3);
  CHECK((*even)[0].detail["n"] == 14);
  CHECK((*even)[2].detail["n"] == 18);

  auto circuit = store.recent_events(EventFilter{"", "circuit.", 50});
  REQUIRE(circuit.ok());
  CHECK(circuit->size() == 10);
  for (const auto& e : *circuit) CHECK(e.kind == "circuit.open");
}

TEST_CASE("with the database stopped, reads fail fast and writes wait for it") {
  auto cluster = TestCluster::start();
  StateStore store(cluster->url());
  REQUIRE(store.open(10s).ok());
  store.append_event(event("a", "spawn", "starting", 0));
  REQUIRE(store.flush(10s));

  REQUIRE(cluster->stop().ok());
  for (int i = 0; i < 2; ++i) {  // a broken connection, then no server at all
    const auto before = std::chrono::steady_clock::now();
    auto plugins = store.load_plugins();
    const auto took = std::chrono::steady_clock::now() - before;
    REQUIRE_FALSE(plugins.ok());
    INFO(plugins.error().message);
    CHECK(plugins.error().message.find("database unavailable") != std::string::npos);
    CHECK(took < 6s);
  }
  auto receipts = store.list_receipts(ReceiptFilter{});
  CHECK_FALSE(receipts.ok());

  for (int i = 1; i <= 5; ++i) store.append_event(event("a", "exit", "backoff", i));
  store.save_state(PluginRow{"a", "1.0", "backoff", true, "", 5}, 0);
  CHECK(eventually([&] { return !store.connected(); }, 10s));
  CHECK(store.pending() == 6);

  REQUIRE(cluster->restart().ok());
  CHECK(store.flush(20s));
  CHECK(store.connected());
  auto events = store.recent_events(EventFilter{"a", "", 50});
  REQUIRE(events.ok());
  REQUIRE(events->size() == 6);
  for (int i = 0; i < 6; ++i) CHECK((*events)[i].detail["n"] == i);  // in order
  auto plugins = store.load_plugins();
  REQUIRE(plugins.ok());
  REQUIRE(plugins->size() == 1);
  CHECK(plugins->front().restarts == 5);
}

TEST_CASE("list_receipts pages newest first and filters") {
  auto cluster = TestCluster::start();
  StateStore store(cluster->url());
  REQUIRE(store.open(10s).ok());
  {
    plugvisor::config::ReceiptWriterConfig config;
    config.flush_interval = 20ms;
    ReceiptWriter writer(cluster->url(), config);
    std::vector<Receipt> receipts;
    for (int i = 0; i < 45; ++i) {
      Receipt r;
      r.dispatch_id = "d" + std::to_string(i / 3);  // three handlers per dispatch
      r.plugin_id = i % 3 == 0 ? "alpha" : (i % 3 == 1 ? "beta" : "gamma");
      r.hook = i < 30 ? "tool.pre_exec" : "message.enrich";
      r.status = "ok";
      receipts.push_back(std::move(r));
    }
    writer.submit(std::move(receipts));
    REQUIRE(writer.flush(10s));
  }

  // Page through everything, 7 at a time.
  std::vector<int64_t> ids;
  ReceiptFilter page;
  page.limit = 7;
  for (;;) {
    auto got = store.list_receipts(page);
    REQUIRE(got.ok());
    if (got->empty()) break;
    CHECK(got->size() <= 7);
    for (const auto& s : *got) ids.push_back(s.id);
    page.before_id = got->back().id;
  }
  REQUIRE(ids.size() == 45);
  CHECK(std::is_sorted(ids.rbegin(), ids.rend()));
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());

  ReceiptFilter by_plugin;
  by_plugin.plugin_id = "beta";
  auto beta = store.list_receipts(by_plugin);
  REQUIRE(beta.ok());
  CHECK(beta->size() == 15);
  for (const auto& s : *beta) CHECK(s.receipt.plugin_id == "beta");

  ReceiptFilter by_hook;
  by_hook.hook = "message.enrich";
  by_hook.plugin_id = "alpha";
  auto enrich = store.list_receipts(by_hook);
  REQUIRE(enrich.ok());
  CHECK(enrich->size() == 5);

  ReceiptFilter by_dispatch;
  by_dispatch.dispatch_id = "d4";
  auto d4 = store.list_receipts(by_dispatch);
  REQUIRE(d4.ok());
  REQUIRE(d4->size() == 3);
  CHECK(d4->front().receipt.plugin_id == "gamma");  // newest first
  CHECK(d4->back().receipt.plugin_id == "alpha");

  ReceiptFilter newest_two;
  newest_two.limit = 2;
  auto two = store.list_receipts(newest_two);
  REQUIRE(two.ok());
  REQUIRE(two->size() == 2);
  CHECK(two->front().id == ids.front());
}
