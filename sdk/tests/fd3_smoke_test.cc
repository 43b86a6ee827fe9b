// A plugin really serves plugin.v1 on fd 3: spawn the noop fixture like plugvisord does, shake
// hands, invoke, shut it down, and see it exit 0.
#include <catch2/catch.hpp>

#include "spawned_plugin.h"

using namespace plugvisor::sdk::test;
using namespace std::chrono_literals;

TEST_CASE("noop fixture serves Describe, Invoke and Shutdown on fd 3", "[sdk][fd3]") {
  SpawnedPlugin plugin(plugin_path("plugvisor-fixture-noop"),
                       {"--id", "noop-1", "--hook", "tool.pre_exec", "--hook", "message.enrich",
                        "--priority", "7", "--fail-policy", "fail_closed"});

  pb::DescribeResponse described;
  auto st = plugin.describe(&described, {1, 2});
  REQUIRE(st.ok());
  CHECK(described.protocol_version() == 1);
  CHECK(described.plugin_id() == "noop-1");
  REQUIRE(described.hooks_size() == 2);
  CHECK(described.hooks(0).hook() == "tool.pre_exec");
  CHECK(described.hooks(0).priority() == 7);
  CHECK(described.hooks(0).fail_policy() == pb::FAIL_CLOSED);
  CHECK(described.hooks(1).hook() == "message.enrich");

  pb::InvokeResponse invoked;
  st = plugin.invoke("tool.pre_exec", R"({"tool":"shell"})", &invoked);
  REQUIRE(st.ok());
  CHECK(invoked.decision() == pb::CONTINUE);
  CHECK(invoked.patch_json().empty());

  REQUIRE(plugin.shutdown(1000).ok());
  auto status = plugin.wait_exit(5s);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}
