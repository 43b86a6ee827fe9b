// Dispatcher: fail_open / fail_closed for each error code, skipped targets, settlements.
#include <catch2/catch.hpp>

#include "dispatch/fakes.h"

using namespace plugvisor::dispatch;
using namespace plugvisor::dispatch::fakes;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

struct CodeCase {
  ErrorCode code;
  bool counts;
};

const CodeCase kCodes[] = {
    {ErrorCode::timeout, true},
    {ErrorCode::plugin_crashed, true},
    {ErrorCode::invalid_output, true},
    {ErrorCode::execution_error, true},
    {ErrorCode::circuit_open, false},
    {ErrorCode::load_error, false},
    {ErrorCode::permission_denied, false},
    {ErrorCode::disabled, false},
};

}  // namespace

TEST_CASE("fail_open records the failure and continues") {
  for (const CodeCase& c : kCodes) {
    INFO(to_string(c.code));
    Harness h;
    auto t = h.bind(h.target("failing"), "tool.pre_exec", 2, FailPolicy::open);
    auto next = h.bind(h.target("next"), "tool.pre_exec", 1);
    t->then(fail(c.code, "boom"), 25ms);
    next->then(patch({{"arguments", {{"ok", true}}}}));
    auto r = h.dispatch("tool.pre_exec", {{"arguments", json::object()}});
    REQUIRE(r.ok());
    CHECK_FALSE(r->blocked);
    REQUIRE(r->receipts.size() == 2);
    CHECK(r->receipts[0].status == "failed");
    CHECK(r->receipts[0].error == c.code);
    CHECK(r->receipts[0].error_message == "boom");
    CHECK(r->receipts[0].fail_policy == FailPolicy::open);
    CHECK(r->receipts[0].duration == 25ms);
    CHECK(r->receipts[1].status == "ok");
    CHECK(json::parse(r->data_json)["arguments"]["ok"] == true);
    REQUIRE(t->settlements.size() == 1);
    CHECK(t->settlements[0].error == c.code);
    CHECK(t->settlements[0].counts_as_failure == c.counts);
    CHECK(t->settlements[0].duration == 25ms);
  }
}

TEST_CASE("fail_closed ends the dispatch blocked with the failure as the reason") {
  for (const CodeCase& c : kCodes) {
    const std::string code(to_string(c.code));
    INFO(code);
    Harness h;
    auto first = h.bind(h.target("first"), "tool.pre_exec", 3);
    auto t = h.bind(h.target("strict"), "tool.pre_exec", 2, FailPolicy::closed);
    auto next = h.bind(h.target("next"), "tool.pre_exec", 1);
    first->then(patch({{"arguments", {{"seen", 1}}}}));
    t->then(fail(c.code, "went wrong"));
    auto r = h.dispatch("tool.pre_exec", {{"arguments", json::object()}});
    REQUIRE(r.ok());
    CHECK(r->blocked);
    CHECK(r->blocked_by == "strict");
    CHECK_THAT(r->reason, Catch::Contains("'strict'") && Catch::Contains(code) &&
                              Catch::Contains("went wrong") && Catch::Contains("fail_closed"));
    REQUIRE(r->receipts.size() == 2);
    CHECK(r->receipts[1].status == "failed");
    CHECK(r->receipts[1].fail_policy == FailPolicy::closed);
    CHECK(next->invocations.empty());
    CHECK(t->settlements.at(0).counts_as_failure == c.counts);
    // Mutations made before the failure are still what the host gets back.
    CHECK(json::parse(r->data_json)["arguments"]["seen"] == 1);
  }
}

TEST_CASE("fail_closed acts as fail_open on a hook that cannot block") {
  Harness h;
  auto t = h.bind(h.target("strict"), "message.enrich", 2, FailPolicy::closed);
  auto next = h.bind(h.target("next"), "message.enrich", 1);
  t->then(fail(ErrorCode::timeout));
  auto r = h.dispatch("message.enrich", json::object());
  REQUIRE(r.ok());
  CHECK_FALSE(r->blocked);
  CHECK(r->receipts.at(0).fail_policy == FailPolicy::open);
  CHECK(next->invocations.size() == 1);
}

TEST_CASE("a skipped target is recorded without applying its fail policy") {
  Harness h;
  auto off = h.bind(h.target("off"), "tool.pre_exec", 2, FailPolicy::closed);
  auto next = h.bind(h.target("next"), "tool.pre_exec", 1);
  off->then(skip(ErrorCode::disabled));
  auto r = h.dispatch("tool.pre_exec", json::object());
  REQUIRE(r.ok());
  CHECK_FALSE(r->blocked);
  CHECK(r->receipts.at(0).status == "skipped");
  CHECK(r->receipts.at(0).error == ErrorCode::disabled);
  REQUIRE(off->settlements.size() == 1);
  CHECK_FALSE(off->settlements[0].counts_as_failure);
  CHECK(off->settlements[0].error == ErrorCode::disabled);
  CHECK(next->invocations.size() == 1);
}

TEST_CASE("every invoked target is settled exactly once, whatever happened") {
  Harness h;
  auto ok = h.bind(h.target("a"), "tool.pre_exec", 5);
  auto failing = h.bind(h.target("b"), "tool.pre_exec", 4);
  auto skipped = h.bind(h.target("c"), "tool.pre_exec", 3);
  auto patched = h.bind(h.target("d"), "tool.pre_exec", 2);
  auto blocker = h.bind(h.target("e"), "tool.pre_exec", 1);
  failing->then(fail(ErrorCode::plugin_crashed));
  skipped->then(skip());
  patched->then(patch({{"arguments", 1}}));
  blocker->then(block("no"));
  auto r = h.dispatch("tool.pre_exec", json::object());
  REQUIRE(r.ok());
  for (const auto& t : {ok, failing, skipped, patched, blocker}) {
    INFO(t->plugin_id());
    CHECK(t->invocations.size() == 1);
    CHECK(t->settlements.size() == 1);
    CHECK(t->settled_ids == std::vector<std::string>{t->invocations[0].context.invocation_id});
  }
  CHECK(h.sink.batches.size() == 1);
  CHECK(h.sink.batches[0].size() == 5);
}

TEST_CASE("a target that throws is an EXECUTION_ERROR, not a crash of the dispatcher") {
  Harness h;
  auto t = h.bind(h.target("thrower"), "tool.pre_exec", 0, FailPolicy::closed);
  t->then([](const Invocation&) -> InvokeOutcome { throw std::runtime_error("bug"); });
  auto r = h.dispatch("tool.pre_exec", json::object());
  REQUIRE(r.ok());
  CHECK(r->blocked);
  CHECK(r->receipts.at(0).error == ErrorCode::execution_error);
  CHECK(t->settlements.at(0).counts_as_failure);
}
