// Dispatch through a real plugvisord to real plugin processes: timeouts and kill-after-grace,
// fail policies, forbidden mutations, a plugin killed mid-call.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "pg_cluster.h"
#include "supervisor_harness.h"

using namespace plugvisor::testsupport;
using nlohmann::json;
using std::chrono::milliseconds;


TEST_CASE("a hung handler times out, its plugin is killed and restarted, the next call succeeds") {
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" +
          fixture("sleeper", "hang", {{"tool.pre_exec", "timeout_ms: 300"}}),
      fresh_database(shared_cluster()));
  auto before = sup->wait_for_state("sleeper", "ready");

  auto t0 = std::chrono::steady_clock::now();
  auto resp = sup->dispatch("tool.pre_exec", R"({"hang": true, "tool": "x"})");
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(resp.receipts_size() == 1);
  CHECK(resp.receipts(0).status() == "failed");
  CHECK(resp.receipts(0).error_code() == "TIMEOUT");
  CHECK(took < milliseconds(300 + 1500));
  CHECK_FALSE(resp.blocked());  // fail_open by default

  auto after = sup->wait_for("sleeper", [&](const auto& p) {
    return p.state() == "ready" && p.pid() != before.pid() && p.pid() != 0;
  });
  CHECK(after.restarts() >= 1);
  CHECK(after.failures() == 1);

  auto next = sup->dispatch("tool.pre_exec", R"({"hang": false, "tool": "x"})");
  REQUIRE(next.receipts_size() == 1);
  CHECK(next.receipts(0).status() == "ok");
}

TEST_CASE("fail_open records the failure and continues; fail_closed ends the dispatch blocked") {
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" +
          fixture("lenient", "echo", {{"tool.pre_exec", "priority: 10, fail_policy: fail_open"}}) +
          fixture("strict", "echo", {{"tool.pre_exec", "priority: 5, fail_policy: fail_closed"}}) +
          fixture("after", "echo", {{"tool.pre_exec", "priority: 1"}}),
      fresh_database(shared_cluster()));
  for (auto id : {"lenient", "strict", "after"}) sup->wait_for_state(id, "ready");

  auto ok = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
  CHECK_FALSE(ok.blocked());
  REQUIRE(ok.receipts_size() == 3);

  auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x", "_fail": "boom"})");
  CHECK(resp.blocked());
  CHECK(resp.blocked_by() == "strict");
  CHECK_THAT(resp.reason(), Catch::Contains("EXECUTION_ERROR"));
  REQUIRE(resp.receipts_size() == 2);  // "after" never ran
  CHECK(resp.receipts(0).plugin_id() == "lenient");
  CHECK(resp.receipts(0).status() == "failed");
  CHECK(resp.receipts(0).error_code() == "EXECUTION_ERROR");
  CHECK(resp.receipts(0).fail_policy() == "fail_open");
  CHECK(resp.receipts(1).plugin_id() == "strict");
  CHECK(resp.receipts(1).status() == "failed");
  CHECK(resp.receipts(1).fail_policy() == "fail_closed");
}

TEST_CASE("a mutation outside the hook's allowlist is rejected whole and counted as a failure") {
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" +
          fixture("mutator", "echo", {{"tool.pre_exec", ""}}) +
          fixture("forger", "bad-output", {{"response.pre_deliver", ""}}, ", \"--mode\", \"forbidden-mutation\""),
      fresh_database(shared_cluster()));
  sup->wait_for_state("mutator", "ready");
  sup->wait_for_state("forger", "ready");

  // /arguments is mutable on tool.pre_exec, /tool is not: neither change may land.
  auto resp = sup->dispatch(
      "tool.pre_exec",
      R"({"tool": "shell", "arguments": {"cmd": "ls"}, "_patch": {"arguments": {"cmd": "rm"}, "tool": "evil"}})");
  REQUIRE(resp.receipts_size() == 1);
  CHECK(resp.receipts(0).error_code() == "INVALID_OUTPUT");
  CHECK_THAT(resp.receipts(0).error_message(), Catch::Contains("/tool"));
  auto data = json::parse(resp.data_json());
  CHECK(data["tool"] == "shell");
  CHECK(data["arguments"]["cmd"] == "ls");
  CHECK(sup->plugin("mutator").failures() == 1);

  auto forged = sup->dispatch("response.pre_deliver", R"({"content": "hello"})");
  REQUIRE(forged.receipts_size() == 1);
  CHECK(forged.receipts(0).error_code() == "INVALID_OUTPUT");
  CHECK(json::parse(forged.data_json()) == json{{"content", "hello"}});
  CHECK(sup->plugin("forger").failures() == 1);

  // An allowed patch goes through, and the receipt names what it changed.
  auto allowed = sup->dispatch(
      "tool.pre_exec",
      R"({"tool": "shell", "arguments": {"cmd": "ls"}, "_patch": {"arguments": {"cmd": "ls -l"}}})");
  CHECK(allowed.receipts(0).status() == "ok");
  REQUIRE(allowed.receipts(0).mutated_paths_size() == 1);
  CHECK(allowed.receipts(0).mutated_paths(0) == "/arguments/cmd");
  CHECK(json::parse(allowed.data_json())["arguments"]["cmd"] == "ls -l");
}

TEST_CASE("SIGKILL of a plugin mid-call gives that call PLUGIN_CRASHED and no other call fails") {
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" +
          fixture("victim", "echo", {{"tool.pre_exec", "timeout_ms: 20000"}}) +
          fixture("bystander", "echo", {{"message.enrich", ""}}),
      fresh_database(shared_cluster()));
  auto victim = sup->wait_for_state("victim", "ready");
  sup->wait_for_state("bystander", "ready");

  plugvisor::hooks::v1::DispatchResponse slow;
  std::jthread caller([&] { slow = sup->dispatch("tool.pre_exec", R"({"_sleep_ms": 15000})"); });
  sup->wait_for("victim", [](const auto& p) { return p.calls() >= 1; });

  std::atomic<int> other_ok{0}, other_failed{0};
  std::jthread others([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      auto r = sup->dispatch("message.enrich", R"({"text": "hi"})");
      (r.receipts_size() == 1 && r.receipts(0).status() == "ok" ? other_ok : other_failed)++;
    }
  });
  REQUIRE(::kill(victim.pid(), SIGKILL) == 0);
  caller.join();
  sup->wait_for("victim", [&](const auto& p) { return p.state() == "ready" && p.pid() != victim.pid(); });
  others.request_stop();
  others.join();

  REQUIRE(slow.receipts_size() == 1);
  CHECK(slow.receipts(0).error_code() == "PLUGIN_CRASHED");
  CHECK(other_ok > 0);
  CHECK(other_failed == 0);
}

TEST_CASE("unknown hooks and malformed payloads are refused with a clear error") {
  auto sup = Supervisor::start(fast_defaults_yaml() + "plugins: []\n",
                               fresh_database(shared_cluster()));
  grpc::Status status;
  sup->dispatch("no.such_hook", "{}", &status);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(status.error_message(), Catch::Contains("no.such_hook"));
  sup->dispatch("tool.pre_exec", "{not json", &status);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}
