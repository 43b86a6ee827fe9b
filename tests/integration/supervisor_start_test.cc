// Plugins that fail before serving, and one that floods its log: the supervisor copes with each.
#include <algorithm>
#include <catch2/catch.hpp>
#include <sstream>

#include "pg_cluster.h"
#include "supervisor_harness.h"

using namespace plugvisor::testsupport;

TEST_CASE("a plugin that exits at start is restarted with backoff, then auto-disabled") {
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" + fixture("quitter", "exit-at-start", {{"tool.pre_exec", "fail_policy: fail_closed"}}) +
          "    guards: {crash_loop_max_failures: 3, crash_loop_window_ms: 60000, backoff_initial_ms: 20}\n",
      fresh_database(shared_cluster()));
  auto p = sup->wait_for_state("quitter", "disabled");
  CHECK(p.disabled_reason() == "crash_loop");
  CHECK(p.restarts() == 2);  // three starts: the first and two restarts
  CHECK_THAT(p.last_error(), Catch::Contains("exited with code 3"));
  // Bound in the config as fail_closed: even never having started, it blocks its hook.
  auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
  CHECK(resp.blocked());
  CHECK(resp.blocked_by() == "quitter");
  REQUIRE(resp.receipts_size() == 1);
  CHECK(resp.receipts(0).error_code() == "DISABLED");
}

TEST_CASE("a plugin that never answers Describe is a start failure after the start timeout") {
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" + fixture("mute", "no-describe", {{"tool.pre_exec", ""}}) +
          "    start_timeout_ms: 300\n"
          "    guards: {crash_loop_max_failures: 2, crash_loop_window_ms: 60000, backoff_initial_ms: 20}\n",
      fresh_database(shared_cluster()));
  auto p = sup->wait_for_state("mute", "disabled");
  CHECK(p.disabled_reason() == "crash_loop");
  CHECK_THAT(p.last_error(), Catch::Contains("start timeout"));
  CHECK_THAT(sup->log(), Catch::Contains("start_failed"));
}

TEST_CASE("a plugin that floods stdout is rate-limited and cannot hurt the supervisor") {
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" +
          fixture("loud", "flood", {{"message.enrich", ""}}, R"(, "--lines", "200000")") +
          "    logs: {line_max_bytes: 512, lines_per_second: 50, burst: 50}\n" +
          fixture("quiet", "echo", {{"tool.pre_exec", ""}}),
      fresh_database(shared_cluster()));
  sup->wait_for_state("loud", "ready");
  sup->wait_for_state("quiet", "ready");
  for (int i = 0; i < 20; ++i) {
    auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
    REQUIRE(resp.receipts_size() == 1);
    CHECK(resp.receipts(0).status() == "ok");
  }
  CHECK(sup->dispatch("message.enrich", R"({"text": "x"})").receipts(0).status() == "ok");
  // The flood arrives, is cut and counted; the log holds a bounded number of its lines.
  REQUIRE(eventually([&] { return sup->log().find("log lines over the rate limit") != std::string::npos; },
                     std::chrono::seconds(20)));
  // Bounded in count and in length: no line of the plugin's is longer than its cap plus our
  // prefix, even though it wrote a 1 MiB line.
  std::istringstream log(sup->log());
  size_t flood_lines = 0, longest = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.find("plugin=loud stream=stdout") == std::string::npos) continue;
    ++flood_lines;
    longest = std::max(longest, line.size());
  }
  CHECK(flood_lines > 0);
  CHECK(flood_lines < 5000);
  CHECK(longest < 512 + 200);
}
