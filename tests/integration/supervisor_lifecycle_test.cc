// Lifecycle through a real plugvisord: crash-loop auto-disable persisted in PostgreSQL, the
// operator's enable, and no plugin process outliving the supervisor (SIGTERM or SIGKILL).
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <thread>

#include "pg_cluster.h"
#include "store/connection.h"
#include "supervisor_harness.h"

using namespace plugvisor::testsupport;
using std::chrono::milliseconds;

namespace {

std::string crasher_config() {
  // The crash is immediate; the long timeout only keeps a loaded machine from turning a slow
  // call into a TIMEOUT, which the crash-loop guard does not count as a crash.
  return fast_defaults_yaml() + "plugins:\n" +
         fixture("crasher", "crash", {{"tool.pre_exec", "timeout_ms: 30000"}},
                 ", \"--crash-on\", \"1\"") +
         "    guards: {crash_loop_max_failures: 3, crash_loop_window_ms: 60000, "
         "backoff_initial_ms: 20, breaker_failure_threshold: 1000}\n";
}

std::string db_value(const std::string& url, const std::string& sql) {
  auto conn = plugvisor::store::Connection::open(url);
  REQUIRE(conn.ok());
  auto r = conn->exec(sql);
  if (!r) FAIL(sql << ": " << r.error().message);
  REQUIRE(r->rows() == 1);
  return r->text(0, 0);
}

}  // namespace

TEST_CASE("a plugin that crashes on every call is auto-disabled, and stays so across restarts") {
  auto url = fresh_database(shared_cluster());
  {
    auto sup = Supervisor::start(crasher_config(), url);
    // Call it whenever it is up, until the guard gives up on it: that must take exactly the
    // configured number of crashes.
    int crashes = 0;
    std::string outcomes;  // every call's error code, to explain a miscount
    for (int attempt = 0; attempt < 10; ++attempt) {
      auto up = sup->wait_for(
          "crasher", [](const auto& p) { return p.state() == "ready" || p.state() == "disabled"; });
      if (up.state() == "disabled") break;
      auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
      REQUIRE(resp.receipts_size() == 1);
      if (resp.receipts(0).error_code() == "PLUGIN_CRASHED") ++crashes;
      outcomes += resp.receipts(0).error_code() + " (" + resp.receipts(0).error_message() + "); ";
      // Wait for this crash to be processed before the next call, so each call meets a live plugin.
      sup->wait_for("crasher", [&](const auto& p) { return p.pid() != up.pid(); });
    }
    INFO("plugvisord log:\n" << sup->log());
    INFO("call outcomes: " << outcomes);
    CHECK(crashes == 3);
    auto disabled = sup->wait_for_state("crasher", "disabled");
    CHECK_FALSE(disabled.enabled());
    CHECK(disabled.disabled_reason() == "crash_loop");
    CHECK(disabled.pid() == 0);

    // Calls to it now fail fast with DISABLED (fail_open: the dispatch continues).
    auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
    REQUIRE(resp.receipts_size() == 1);
    CHECK(resp.receipts(0).error_code() == "DISABLED");
    CHECK(sup->terminate() == 0);
  }
  CHECK(db_value(
            url,
            "SELECT enabled::text || '/' || disabled_reason FROM plugins WHERE id = 'crasher'") ==
        "false/crash_loop");
  CHECK(db_value(
            url,
            "SELECT count(*) FROM events WHERE plugin_id = 'crasher' AND kind = 'auto_disabled'") ==
        "1");

  // A new supervisor on the same database keeps it disabled, without starting it.
  auto sup = Supervisor::start(crasher_config(), url);
  auto again = sup->wait_for_state("crasher", "disabled");
  CHECK(again.disabled_reason() == "crash_loop");
  CHECK(again.pid() == 0);

  // Only an operator's enable brings it back, with fresh counters.
  plugvisor::admin::v1::PluginRequest req;
  req.set_id("crasher");
  plugvisor::admin::v1::PluginResponse resp;
  grpc::ClientContext ctx;
  REQUIRE(sup->admin().Enable(&ctx, req, &resp).ok());
  auto enabled = sup->wait_for_state("crasher", "ready");
  CHECK(enabled.enabled());
  CHECK(db_value(url, "SELECT enabled::text FROM plugins WHERE id = 'crasher'") == "true");
}

namespace {

std::string three_plugins() {
  return fast_defaults_yaml() + "plugins:\n" + fixture("a", "echo", {{"tool.pre_exec", ""}}) +
         fixture("b", "echo", {{"message.enrich", ""}}) +
         // Ignores deadlines: the ladder must go past the Shutdown RPC for this one.
         fixture("c", "hang", {{"response.pre_deliver", ""}});
}

std::vector<pid_t> ready_pids(Supervisor& sup) {
  std::vector<pid_t> pids;
  for (auto id : {"a", "b", "c"}) pids.push_back(sup.wait_for_state(id, "ready").pid());
  return pids;
}

}  // namespace

TEST_CASE("after SIGTERM to plugvisord no plugin process is left, and it exits 0") {
  auto sup = Supervisor::start(three_plugins(), fresh_database(shared_cluster()));
  auto pids = ready_pids(*sup);
  int status = sup->terminate();
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (pid_t pid : pids) CHECK_FALSE(process_alive(pid));
}

TEST_CASE("after SIGKILL to plugvisord no plugin process is left") {
  auto sup = Supervisor::start(three_plugins(), fresh_database(shared_cluster()));
  auto pids = ready_pids(*sup);
  sup->kill_hard();
  for (pid_t pid : pids) CHECK(wait_process_gone(pid, std::chrono::seconds(10)));
}

TEST_CASE("SIGTERM while a Dispatch waits on a hung plugin: the call ends, plugvisord exits 0") {
  // The hung plugin's timeout is far longer than the shutdown ladder: nothing but the shutdown
  // itself can end this call.
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "dispatch: {budget_ms: 120000}\nplugins:\n" +
          fixture("hung", "hang", {{"response.pre_deliver", "timeout_ms: 60000"}}),
      fresh_database(shared_cluster()));
  const pid_t pid = sup->wait_for_state("hung", "ready").pid();

  grpc::Status status;
  std::thread caller(
      [&] { sup->dispatch("response.pre_deliver", R"({"content": "x"})", &status); });
  // In flight once the plugin has counted the call.
  sup->wait_for(
      "hung", [](const auto& p) { return p.calls() >= 1; }, std::chrono::seconds(30));

  const auto t0 = std::chrono::steady_clock::now();
  const int exit_status = sup->terminate();
  caller.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO("dispatch ended with " << status.error_code() << ": " << status.error_message());
  REQUIRE(exit_status != -1);
  CHECK(WIFEXITED(exit_status));
  CHECK(WEXITSTATUS(exit_status) == 0);
  CHECK(took < std::chrono::seconds(30));  // the server's 5 s, the ladder's graces; not 60 s
  CHECK_FALSE(process_alive(pid));
}
