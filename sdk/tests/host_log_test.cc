// host.v1 Log through a real plugvisord: a real SDK plugin (plugvisor-sdk-log-probe, started and
// sandboxed like any plugin) logs from its handler, and the record lands in plugvisord's log as a
// host.log line tagged with the plugin id, the dispatch and the invocation, not as captured
// stderr. The supervisor escapes it, vouches for the invocation itself and rate-limits it.
#include <catch2/catch.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "pg_cluster.h"
#include "supervisor_harness.h"

using namespace plugvisor::testsupport;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

std::string config(const std::string& logs_yaml = "") {
  return fast_defaults_yaml() + "plugins:\n  - id: log-probe\n    executable: " +
         plugin_binary("plugvisor-sdk-log-probe") +
         "\n    hooks:\n      - {hook: tool.pre_exec, timeout_ms: 20000}\n" + logs_yaml;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& a,
                                    const std::string& b = "") {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

// The JSON object after " | " on one of plugvisord's plugin lines.
Json record_of(const std::string& line) {
  const auto at = line.find(" | ");
  REQUIRE(at != std::string::npos);
  return Json::parse(line.substr(at + 3), nullptr, false);
}

struct Dispatched {
  std::string dispatch_id;
  Json metadata;
};

Dispatched run(Supervisor& sup, const Json& data) {
  const auto resp = sup.dispatch("tool.pre_exec", data.dump());
  INFO(resp.ShortDebugString());
  REQUIRE(resp.receipts_size() == 1);
  if (resp.receipts(0).status() != "ok") FAIL("the plugin failed; plugvisord log:\n" << sup.log());
  return {resp.dispatch_id(), Json::parse(resp.data_json())["metadata"]};
}

}  // namespace

TEST_CASE(
    "a handler's log lines reach plugvisord through host.v1 Log, tagged with the plugin "
    "and the invocation",
    "[sdk][log]") {
  auto sup = Supervisor::start(config(), fresh_database(shared_cluster()));
  sup->wait_for_state("log-probe", "ready");

  const auto d = run(*sup, {{"_log",
                             {{{"level", "warn"},
                               {"msg", "checked the tool"},
                               {"fields", {{"tool", "rm"}, {"n", 3}, {"invocation_id", "forged"}}}},
                              {{"msg", "line one\nplugin=intruder stream=stderr | forged"}}}}});
  const std::string invocation = d.metadata["invocation_id"];
  REQUIRE_FALSE(invocation.empty());
  const std::string tag = "plugin=log-probe stream=host.log dispatch=" + d.dispatch_id +
                          " invocation=" + invocation + " | ";

  // The records go out after the answer (logging never holds it up), still under the token.
  std::vector<std::string> checked;
  REQUIRE(eventually(
      [&] {
        const std::string log = sup->log();
        checked = lines_with(log, tag, "checked the tool");
        return !checked.empty() && !lines_with(log, "plugin=intruder").empty();
      },
      10s));
  const std::string log = sup->log();
  INFO(log);
  REQUIRE(checked.size() == 1);
  CHECK(checked[0].find(" warning plugin=log-probe") != std::string::npos);  // at its level
  const Json record = record_of(checked[0]);
  CHECK(record["msg"] == "checked the tool");
  CHECK(record["level"] == "warn");
  CHECK(record["tool"] == "rm");
  CHECK(record["n"] == "3");
  CHECK(record["invocation_id"] == invocation);  // the token's, not the field the plugin sent

  // A newline in a message stays inside its own, escaped, line.
  const auto injected = lines_with(log, "plugin=intruder");
  REQUIRE(injected.size() == 1);
  CHECK(injected[0].find(tag) != std::string::npos);
  CHECK(record_of(injected[0])["msg"] == "line one\nplugin=intruder stream=stderr | forged");

  // Not through stderr as well; and the plugin's own-behalf line from on_configure has no
  // invocation.
  CHECK(lines_with(log, "stream=stderr", "checked the tool").empty());
  const auto configured = lines_with(log, "plugin=log-probe stream=host.log | ", "configured");
  REQUIRE(configured.size() == 1);
  CHECK_FALSE(record_of(configured[0]).contains("invocation_id"));
  CHECK(sup->plugin("log-probe").host_calls().at("Log") >= 3);
  CHECK(sup->plugin("log-probe").permission_denied() == 0);
}

TEST_CASE("host.v1 Log is held to the plugin's log rate limit, and the drops are reported",
          "[sdk][log]") {
  auto sup = Supervisor::start(config("    logs: {lines_per_second: 1, burst: 5}\n"),
                               fresh_database(shared_cluster()));
  sup->wait_for_state("log-probe", "ready");
  Json flood = Json::array();
  for (int i = 0; i < 12; ++i) flood.push_back({{"msg", "flood"}, {"fields", {{"i", i}}}});
  run(*sup, {{"_log", flood}});
  // A token back after a second: the next line through reports the drops first.
  std::this_thread::sleep_for(1200ms);
  run(*sup, {{"_log", {{{"msg", "after the flood"}}}}});
  REQUIRE(eventually([&] { return !lines_with(sup->log(), "after the flood").empty(); }, 10s));
  const std::string log = sup->log();
  INFO(log);
  const auto through = lines_with(log, "stream=host.log", "\"msg\":\"flood\"").size();
  CHECK(through >= 3);
  CHECK(through <= 8);
  // Refused lines are dropped, not sent again through stderr around the limit.
  CHECK(lines_with(log, "stream=stderr", "flood").empty());
  CHECK(lines_with(log, "stream=host.log | dropped", "over the rate limit").size() == 1);
}

TEST_CASE("what a log call costs a handler, through host.v1 and through stderr", "[sdk][log]") {
  auto sup = Supervisor::start(
      config("    logs: {lines_per_second: 100000, burst: 100000, line_max_bytes: 4096}\n"),
      fresh_database(shared_cluster()));
  sup->wait_for_state("log-probe", "ready");
  const auto first = run(*sup, {{"_bench", 200}});  // warms up the connections
  const auto d = run(*sup, {{"_bench", 200}});
  const std::string invocation = d.metadata["invocation_id"];
  // Records sent after their invocation answered still count for it (the supervisor takes a
  // finished invocation's token for Log): every line arrives once, through host.v1.
  REQUIRE(eventually([&] { return lines_with(sup->log(), invocation, "bench host").size() == 200; },
                     10s));
  const std::string log = sup->log();
  const auto through_host = lines_with(log, "stream=host.log", "bench host").size();
  CHECK(through_host == 400);
  CHECK(lines_with(log, "stream=stderr", "bench host").empty());
  std::cout << "Logger::info in a handler: " << d.metadata["log_us"].get<double>()
            << " us through host.v1 Log, " << d.metadata["stderr_us"].get<double>()
            << " us to stderr (mean of 200); " << through_host
            << " of 400 lines went through host.v1\n";
  CHECK(d.metadata["log_us"].get<double>() > 0);
  (void)first;

  // What logging one line adds to an invocation, as the receipt's duration shows it
  // (interleaved, so load changes hit both alike): queueing only, nothing waits for the send.
  const Json one_line = {{"_log", {{{"msg", "one"}}}}};
  int64_t with = 0, without = 0;
  constexpr int kRounds = 20;
  for (int i = 0; i < kRounds; ++i) {
    with += sup->dispatch("tool.pre_exec", one_line.dump()).receipts(0).duration_us();
    without += sup->dispatch("tool.pre_exec", "{}").receipts(0).duration_us();
  }
  std::cout << "invocation with one line logged: " << with / kRounds
            << " us, without: " << without / kRounds << " us (mean of " << kRounds << ")\n";
}
