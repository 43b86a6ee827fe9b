// Dispatcher: order, context, receipts, budget and timeouts, refused payloads.
#include <catch2/catch.hpp>

#include "dispatch/fakes.h"

using namespace plugvisor::dispatch;
using namespace plugvisor::dispatch::fakes;
using namespace std::chrono_literals;
using json = nlohmann::json;

TEST_CASE("handlers run by priority, then plugin id, then registration order") {
  Harness h;
  std::vector<std::string> order;
  auto note = [&order](std::string tag) {
    return [&order, tag](const plugvisor::dispatch::Invocation&) {
      order.push_back(tag);
      return InvokeOutcome{};
    };
  };
  auto zeta = h.target("zeta");
  auto alpha = h.target("alpha");
  auto low = h.target("low");
  zeta->then(note("zeta"));
  alpha->then(note("alpha-1")).then(note("alpha-2"));
  low->then(note("low"));
  h.bind(low, "tool.pre_exec", -5);
  h.bind(zeta, "tool.pre_exec", 10);
  h.bind(alpha, "tool.pre_exec", 10);
  h.bind(alpha, "tool.pre_exec", 10);

  auto r = h.dispatch("tool.pre_exec", {{"arguments", json::object()}});
  REQUIRE(r.ok());
  CHECK(order == std::vector<std::string>{"alpha-1", "alpha-2", "zeta", "low"});
  REQUIRE(r->receipts.size() == 4);
  CHECK(r->receipts[0].plugin_id == "alpha");
  CHECK(r->receipts[2].plugin_id == "zeta");
  CHECK(r->receipts[3].plugin_id == "low");
}

TEST_CASE("invocations carry the context, ids and current data") {
  Harness h;
  auto t = h.bind(h.target("p"), "message.enrich");
  t->then(proceed(), 30ms);
  auto r = h.dispatch("message.enrich", {{"text", "hi"}});
  REQUIRE(r.ok());
  REQUIRE(t->invocations.size() == 1);
  const Invocation& inv = t->invocations[0];
  CHECK(r->dispatch_id.size() == 32);
  CHECK(inv.hook == "message.enrich");
  CHECK(inv.context.dispatch_id == r->dispatch_id);
  CHECK(inv.context.invocation_id == r->dispatch_id + ".0");
  CHECK(inv.context.tenant_id == "tenant-1");
  CHECK(inv.context.work_item_id == "wi-1");
  CHECK(inv.context.run_id == "run-1");
  CHECK(inv.context.attributes.at("k") == "v");
  CHECK(json::parse(inv.data_json) == json{{"text", "hi"}});
  CHECK(json::parse(r->data_json) == json{{"text", "hi"}});
  CHECK_FALSE(r->blocked);

  const Receipt& rc = r->receipts.at(0);
  CHECK(rc.dispatch_id == r->dispatch_id);
  CHECK(rc.plugin_id == "p");
  CHECK(rc.plugin_version == "1.0.0");
  CHECK(rc.hook == "message.enrich");
  CHECK(rc.status == "ok");
  CHECK(rc.error == ErrorCode::none);
  CHECK(rc.duration == 30ms);
  CHECK(rc.tenant_id == "tenant-1");
  CHECK(rc.work_item_id == "wi-1");
  CHECK(rc.run_id == "run-1");
  CHECK(rc.fail_policy == FailPolicy::open);
  CHECK(rc.at_unix_ms > 1'600'000'000'000);

  REQUIRE(t->settlements.size() == 1);
  CHECK(t->settled_ids == std::vector<std::string>{inv.context.invocation_id});
  CHECK(t->settlements[0].error == ErrorCode::none);
  CHECK_FALSE(t->settlements[0].counts_as_failure);
  CHECK(t->settlements[0].duration == 30ms);

  REQUIRE(h.sink.batches.size() == 1);
  CHECK(h.sink.batches[0].size() == 1);
  CHECK(h.sink.batches[0][0].plugin_id == "p");
}

TEST_CASE("every dispatch gets its own id") {
  Harness h;
  h.bind(h.target("p"), "message.enrich");
  auto a = h.dispatch("message.enrich", json::object());
  auto b = h.dispatch("message.enrich", json::object());
  REQUIRE((a.ok() && b.ok()));
  CHECK(a->dispatch_id != b->dispatch_id);
  CHECK(h.sink.batches.size() == 2);
}

TEST_CASE("a hook without handlers returns the data and submits nothing") {
  Harness h;
  auto r = h.dispatch("tool.post_exec", {{"output", "x"}});
  REQUIRE(r.ok());
  CHECK(r->receipts.empty());
  CHECK(json::parse(r->data_json) == json{{"output", "x"}});
  CHECK(h.sink.batches.empty());
}

TEST_CASE("per-handler timeout: own, else the hook's default, capped by the remaining budget") {
  Harness h;
  auto own = h.bind(h.target("a-own"), "tool.pre_exec", 3, FailPolicy::open, 500ms);
  auto dflt = h.bind(h.target("b-default"), "tool.pre_exec", 2);
  auto capped = h.bind(h.target("c-capped"), "tool.pre_exec", 1, FailPolicy::open, 5000ms);
  own->then(proceed(), 200ms);
  dflt->then(proceed(), 1000ms);
  auto r = h.dispatch("tool.pre_exec", json::object(), 2000ms);
  REQUIRE(r.ok());
  CHECK(own->invocations.at(0).timeout == 500ms);
  CHECK(dflt->invocations.at(0).timeout == 1500ms);
  CHECK(capped->invocations.at(0).timeout == 800ms);
}

TEST_CASE("the request's budget of 0 means the configured default") {
  Harness h;
  h.limits.default_budget = 1000ms;
  auto t = h.bind(h.target("p"), "tool.pre_exec");
  auto r = h.dispatch("tool.pre_exec", json::object());
  REQUIRE(r.ok());
  CHECK(t->invocations.at(0).timeout == 1000ms);
}

TEST_CASE("when the budget runs out, the rest are skipped with BUDGET_EXCEEDED") {
  Harness h;
  auto a = h.bind(h.target("a"), "tool.pre_exec", 4);
  auto b = h.bind(h.target("b"), "tool.pre_exec", 3);
  auto c = h.bind(h.target("c"), "tool.pre_exec", 2);
  auto d = h.bind(h.target("d"), "tool.pre_exec", 1);
  a->then(proceed(), 600ms);
  b->then(fail(ErrorCode::timeout, "deadline"), 400ms);
  auto r = h.dispatch("tool.pre_exec", json::object(), 1000ms);
  REQUIRE(r.ok());
  CHECK(b->invocations.at(0).timeout == 400ms);
  CHECK_FALSE(r->blocked);
  REQUIRE(r->receipts.size() == 4);
  CHECK(r->receipts[1].status == "failed");
  for (size_t i : {2, 3}) {
    CHECK(r->receipts[i].status == "skipped");
    CHECK(r->receipts[i].error == ErrorCode::budget_exceeded);
    CHECK(r->receipts[i].duration == 0us);
  }
  CHECK(c->invocations.empty());
  CHECK(c->settlements.empty());
  CHECK(d->invocations.empty());
  CHECK(d->settlements.empty());
}

TEST_CASE("a fail_closed handler skipped for budget ends the dispatch blocked") {
  Harness h;
  auto a = h.bind(h.target("a"), "tool.pre_exec", 3);
  auto c = h.bind(h.target("c"), "tool.pre_exec", 2, FailPolicy::closed);
  auto d = h.bind(h.target("d"), "tool.pre_exec", 1);
  a->then(proceed(), 1000ms);
  auto r = h.dispatch("tool.pre_exec", json::object(), 1000ms);
  REQUIRE(r.ok());
  CHECK(r->blocked);
  CHECK(r->blocked_by == "c");
  CHECK_THAT(r->reason, Catch::Contains("'c'") && Catch::Contains("BUDGET_EXCEEDED"));
  REQUIRE(r->receipts.size() == 2);
  CHECK(r->receipts[1].status == "skipped");
  CHECK(r->receipts[1].error == ErrorCode::budget_exceeded);
  CHECK(c->invocations.empty());
  CHECK(d->invocations.empty());
}

TEST_CASE("budget skip of a fail_closed handler on a non-blockable hook does not block") {
  Harness h;
  auto a = h.bind(h.target("a"), "tool.post_exec", 2);
  h.bind(h.target("c"), "tool.post_exec", 1, FailPolicy::closed);
  a->then(proceed(), 2000ms);
  auto r = h.dispatch("tool.post_exec", json::object(), 1000ms);
  REQUIRE(r.ok());
  CHECK_FALSE(r->blocked);
  CHECK(r->receipts.at(1).error == ErrorCode::budget_exceeded);
}

TEST_CASE("refused dispatches are errors and run nothing") {
  Harness h;
  auto t = h.bind(h.target("p"), "tool.pre_exec");
  h.limits.max_payload_bytes = 64;

  auto unknown = h.dispatch("tool.nope", json::object());
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message == "unknown hook 'tool.nope'");
  CHECK(unknown.error().code == static_cast<int>(DispatchRefusal::unknown_hook));

  auto big = h.dispatch_text("tool.pre_exec", R"({"arguments": ")" + std::string(100, 'x') + "\"}");
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error().message, Catch::Contains("117 bytes") && Catch::Contains("64"));
  CHECK(big.error().code == static_cast<int>(DispatchRefusal::payload_too_large));

  auto broken = h.dispatch_text("tool.pre_exec", R"({"a": tru})");
  REQUIRE_FALSE(broken.ok());
  CHECK_THAT(broken.error().message, Catch::Contains("not valid JSON") && Catch::Contains("byte"));
  CHECK(broken.error().code == static_cast<int>(DispatchRefusal::invalid_payload));

  auto array = h.dispatch_text("tool.pre_exec", "[1, 2]");
  REQUIRE_FALSE(array.ok());
  CHECK_THAT(array.error().message, Catch::Contains("JSON object") && Catch::Contains("array"));

  auto overflow = h.dispatch_text("tool.pre_exec", R"({"n": 1e999})");
  REQUIRE_FALSE(overflow.ok());
  CHECK_THAT(overflow.error().message, Catch::Contains("not valid JSON"));

  auto empty = h.dispatch_text("tool.pre_exec", "");
  CHECK_FALSE(empty.ok());

  h.limits.max_payload_bytes = 1 << 20;
  auto deep = h.dispatch_text("tool.pre_exec",
                              "{\"a\":" + std::string(500, '[') + std::string(500, ']') + "}");
  REQUIRE_FALSE(deep.ok());
  CHECK_THAT(deep.error().message, Catch::Contains("deeper"));

  CHECK(t->invocations.empty());
  CHECK(h.sink.batches.empty());
}

TEST_CASE("a handler with no target fails with LOAD_ERROR") {
  Harness h;
  Handler orphan;
  orphan.hook = "message.enrich";
  h.registry.set_plugin_handlers("ghost", {orphan});
  auto r = h.dispatch("message.enrich", json::object());
  REQUIRE(r.ok());
  CHECK(r->receipts.at(0).status == "failed");
  CHECK(r->receipts.at(0).error == ErrorCode::load_error);
}
