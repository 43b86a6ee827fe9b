// Dispatcher: merge patches against the allowlist, blocking, output schemas.
#include <catch2/catch.hpp>

#include "dispatch/fakes.h"

using namespace plugvisor::dispatch;
using namespace plugvisor::dispatch::fakes;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const json kDelivery = {{"content", "hello"}, {"metadata", {{"a", 1}, {"b", 2}}}, {"user", "u1"}};

}  // namespace

TEST_CASE("an allowed patch is applied and summarised in the receipt") {
  Harness h;
  h.bind(h.target("p"), "response.pre_deliver")
      ->then(patch({{"content", "HELLO"}, {"metadata", {{"a", nullptr}, {"c", 3}}}}));
  auto r = h.dispatch("response.pre_deliver", kDelivery);
  REQUIRE(r.ok());
  CHECK(json::parse(r->data_json) ==
        json{{"content", "HELLO"}, {"metadata", {{"b", 2}, {"c", 3}}}, {"user", "u1"}});
  const Receipt& rc = r->receipts.at(0);
  CHECK(rc.status == "ok");
  CHECK(rc.mutated_paths == std::vector<std::string>{"/content", "/metadata/a", "/metadata/c"});
}

TEST_CASE("deleting an allowed field with null") {
  Harness h;
  h.bind(h.target("p"), "response.pre_deliver")->then(patch({{"content", nullptr}}));
  auto r = h.dispatch("response.pre_deliver", kDelivery);
  REQUIRE(r.ok());
  CHECK_FALSE(json::parse(r->data_json).contains("content"));
  CHECK(r->receipts.at(0).mutated_paths == std::vector<std::string>{"/content"});
}

TEST_CASE("a patch touching a forbidden path is rejected whole and counted as a failure") {
  Harness h;
  auto bad = h.bind(h.target("bad"), "response.pre_deliver", 2);
  auto next = h.bind(h.target("next"), "response.pre_deliver", 1);
  bad->then(patch({{"content", "changed"}, {"user", "root"}, {"contents", 1}}));
  auto r = h.dispatch("response.pre_deliver", kDelivery);
  REQUIRE(r.ok());
  CHECK(json::parse(r->data_json) == kDelivery);  // not even /content was applied
  const Receipt& rc = r->receipts.at(0);
  CHECK(rc.status == "failed");
  CHECK(rc.error == ErrorCode::invalid_output);
  CHECK_THAT(rc.error_message, Catch::Contains("/user") && Catch::Contains("/contents"));
  CHECK_THAT(rc.error_message, !Catch::Contains("/content,"));
  CHECK(rc.mutated_paths.empty());
  REQUIRE(bad->settlements.size() == 1);
  CHECK(bad->settlements[0].error == ErrorCode::invalid_output);
  CHECK(bad->settlements[0].counts_as_failure);
  CHECK(next->invocations.size() == 1);  // fail_open: the chain goes on
  CHECK_FALSE(r->blocked);
}

TEST_CASE("a forbidden patch from a fail_closed handler blocks the dispatch") {
  Harness h;
  h.bind(h.target("bad"), "response.pre_deliver", 0, FailPolicy::closed)
      ->then(patch({{"user", "root"}}));
  auto r = h.dispatch("response.pre_deliver", kDelivery);
  REQUIRE(r.ok());
  CHECK(r->blocked);
  CHECK(r->blocked_by == "bad");
  CHECK_THAT(r->reason, Catch::Contains("INVALID_OUTPUT") && Catch::Contains("/user"));
}

TEST_CASE("nested allowlist entries") {
  Harness h;
  const json data = {{"response", {{"content", "x"}, {"model", "m"}}}};
  auto t = h.bind(h.target("p"), "model.post_call");
  t->then(patch({{"response", {{"content", "y"}}}}))
      .then(patch({{"response", {{"model", "other"}}}}))
      .then(patch({{"response", "flattened"}}))
      .then(patch({{"response", {{"content", {{"parts", {1, 2}}}}}}}));
  auto ok = h.dispatch("model.post_call", data);
  REQUIRE(ok.ok());
  CHECK(ok->receipts.at(0).status == "ok");
  CHECK(ok->receipts.at(0).mutated_paths == std::vector<std::string>{"/response/content"});
  CHECK(json::parse(ok->data_json)["response"]["content"] == "y");

  auto sibling = h.dispatch("model.post_call", data);
  CHECK(sibling->receipts.at(0).error == ErrorCode::invalid_output);
  auto parent = h.dispatch("model.post_call", data);
  CHECK(parent->receipts.at(0).error == ErrorCode::invalid_output);
  CHECK_THAT(parent->receipts.at(0).error_message, Catch::Contains("/response"));
  auto deeper = h.dispatch("model.post_call", data);
  CHECK(deeper->receipts.at(0).status == "ok");
}

TEST_CASE("allowlist entries and patch keys are compared as escaped pointers") {
  Harness h;
  HookSpec spec;
  spec.name = "custom.escaped";
  spec.mutable_paths = {"/a~1b", "/m~0n"};
  h.catalog.put(spec);
  auto t = h.bind(h.target("p"), "custom.escaped");
  t->then(patch({{"a/b", 1}, {"m~n", 2}})).then(patch({{"a", {{"b", 1}}}}));
  auto r = h.dispatch("custom.escaped", json::object());
  REQUIRE(r.ok());
  CHECK(r->receipts.at(0).status == "ok");
  CHECK(r->receipts.at(0).mutated_paths == std::vector<std::string>{"/a~1b", "/m~0n"});
  auto r2 = h.dispatch("custom.escaped", json::object());
  CHECK(r2->receipts.at(0).error == ErrorCode::invalid_output);
}

TEST_CASE("later handlers see the mutations of earlier ones") {
  Harness h;
  auto first = h.bind(h.target("first"), "run.pre_prompt", 2);
  auto second = h.bind(h.target("second"), "run.pre_prompt", 1);
  first->then(patch({{"prompt", "step one"}}));
  second->then([](const Invocation& inv) {
    const json seen = json::parse(inv.data_json);
    return patch({{"prompt", seen["prompt"].get<std::string>() + " + step two"}});
  });
  auto r = h.dispatch("run.pre_prompt", {{"prompt", "original"}});
  REQUIRE(r.ok());
  CHECK(json::parse(second->invocations.at(0).data_json)["prompt"] == "step one");
  CHECK(json::parse(r->data_json)["prompt"] == "step one + step two");
}

TEST_CASE("malformed patches are INVALID_OUTPUT") {
  Harness h;
  auto t = h.bind(h.target("p"), "response.pre_deliver");
  t->then(raw_patch("{not json")).then(raw_patch("[1]")).then(raw_patch("\"x\""));
  for (int i = 0; i < 3; ++i) {
    auto r = h.dispatch("response.pre_deliver", kDelivery);
    REQUIRE(r.ok());
    CHECK(r->receipts.at(0).error == ErrorCode::invalid_output);
    CHECK(json::parse(r->data_json) == kDelivery);
  }
}

TEST_CASE("a block on a blockable hook stops the chain and drops its patch") {
  Harness h;
  auto blocker = h.bind(h.target("guard"), "tool.pre_exec", 2);
  auto after = h.bind(h.target("after"), "tool.pre_exec", 1);
  blocker->then(block("rm -rf is denied", R"({"arguments": {"cmd": "ls"}})"));
  const json data = {{"arguments", {{"cmd", "rm -rf /"}}}};
  auto r = h.dispatch("tool.pre_exec", data);
  REQUIRE(r.ok());
  CHECK(r->blocked);
  CHECK(r->blocked_by == "guard");
  CHECK(r->reason == "rm -rf is denied");
  CHECK(json::parse(r->data_json) == data);
  REQUIRE(r->receipts.size() == 1);
  CHECK(r->receipts[0].status == "blocked");
  CHECK(r->receipts[0].mutated_paths.empty());
  CHECK(after->invocations.empty());
  REQUIRE(blocker->settlements.size() == 1);
  CHECK_FALSE(blocker->settlements[0].counts_as_failure);
}

TEST_CASE("a block on a non-blockable hook is INVALID_OUTPUT and never blocks") {
  auto policy = GENERATE(FailPolicy::open, FailPolicy::closed);
  Harness h;
  auto t = h.bind(h.target("p"), "message.enrich", 2, policy);
  auto after = h.bind(h.target("after"), "message.enrich", 1);
  t->then(block("nope"));
  auto r = h.dispatch("message.enrich", json::object());
  REQUIRE(r.ok());
  CHECK_FALSE(r->blocked);
  CHECK(r->receipts.at(0).status == "failed");
  CHECK(r->receipts.at(0).error == ErrorCode::invalid_output);
  CHECK_THAT(r->receipts.at(0).error_message, Catch::Contains("cannot be blocked"));
  CHECK(r->receipts.at(0).fail_policy == FailPolicy::open);
  CHECK(t->settlements.at(0).counts_as_failure);
  CHECK(after->invocations.size() == 1);
}

TEST_CASE("the hook's output schema checks the patched data") {
  Harness h;
  HookSpec spec = *h.catalog.find("response.pre_deliver");
  spec.output_schema = json::parse(R"({
    "type": "object", "required": ["content"],
    "properties": {"content": {"type": "string", "maxLength": 10}}})");
  h.catalog.put(spec);
  auto t = h.bind(h.target("p"), "response.pre_deliver");
  t->then(patch({{"content", "short"}}))
      .then(patch({{"content", "far too long a string"}}))
      .then(patch({{"content", nullptr}}));
  auto good = h.dispatch("response.pre_deliver", kDelivery);
  CHECK(good->receipts.at(0).status == "ok");
  auto long_one = h.dispatch("response.pre_deliver", kDelivery);
  CHECK(long_one->receipts.at(0).error == ErrorCode::invalid_output);
  CHECK_THAT(long_one->receipts.at(0).error_message,
             Catch::Contains("/content") && Catch::Contains("maxLength"));
  CHECK(json::parse(long_one->data_json) == kDelivery);
  auto removed = h.dispatch("response.pre_deliver", kDelivery);
  CHECK_THAT(removed->receipts.at(0).error_message, Catch::Contains("required"));
}

TEST_CASE("a patch may not grow the data past the payload cap") {
  Harness h;
  h.limits.max_payload_bytes = 200;
  h.bind(h.target("p"), "response.pre_deliver")->then(patch({{"content", std::string(300, 'x')}}));
  auto r = h.dispatch("response.pre_deliver", kDelivery);
  REQUIRE(r.ok());
  CHECK(r->receipts.at(0).error == ErrorCode::invalid_output);
  CHECK(json::parse(r->data_json) == kDelivery);
}
