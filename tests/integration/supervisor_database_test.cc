// plugvisord against a database that goes away and comes back, and on its embedded default.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "pg_cluster.h"
#include "store/connection.h"
#include "supervisor_harness.h"

using namespace plugvisor::testsupport;
using std::chrono::milliseconds;

namespace {

long long receipt_count(const std::string& url) {
  auto conn = plugvisor::store::Connection::open(url, 2);
  if (!conn) return -1;
  auto r = conn->exec("SELECT count(*) FROM receipts");
  return r && r->rows() == 1 ? r->int64(0, 0) : -1;
}

}  // namespace

TEST_CASE("with the database stopped, dispatch still answers; queued receipts land after it returns") {
  // A cluster of its own: this test stops and restarts it.
  auto cluster = TestCluster::start();
  auto url = fresh_database(*cluster);
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" + fixture("steady", "echo", {{"tool.pre_exec", ""}}),
      url);
  sup->wait_for_state("steady", "ready");
  sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
  REQUIRE(eventually([&] { return receipt_count(url) == 1; }, std::chrono::seconds(20)));

  REQUIRE(cluster->stop().ok());
  constexpr int kDuringOutage = 25;
  for (int i = 0; i < kDuringOutage; ++i) {
    auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
    REQUIRE(resp.receipts_size() == 1);
    CHECK(resp.receipts(0).status() == "ok");
  }
  CHECK(process_alive(sup->pid()));
  auto status = sup->status();
  CHECK(status.supervisor().receipts_dropped() == 0);
  // The admin API stays up too; reads that need the database say so instead of hanging.
  CHECK(status.plugins_size() == 1);

  REQUIRE(cluster->restart().ok());
  CHECK(eventually([&] { return receipt_count(url) == 1 + kDuringOutage; }, std::chrono::seconds(30)));
  CHECK(sup->terminate() == 0);
}

TEST_CASE("with no database URL plugvisord runs, and stops, its own embedded cluster") {
  TempDir state;
  auto sup = Supervisor::start(
      fast_defaults_yaml() + "plugins:\n" + fixture("solo", "echo", {{"tool.pre_exec", ""}}), "",
      state.path() + "/state");
  sup->wait_for_state("solo", "ready");
  auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
  CHECK(resp.receipts(0).status() == "ok");
  CHECK_THAT(sup->status().supervisor().database(), Catch::Contains("embedded"));
  int status = sup->terminate(std::chrono::seconds(60));
  REQUIRE(status != -1);
  CHECK(WEXITSTATUS(status) == 0);
  // The cluster is stopped with plugvisord: its pid file is gone.
  CHECK_FALSE(std::filesystem::exists(state.path() + "/state/postgres/postmaster.pid"));
}
