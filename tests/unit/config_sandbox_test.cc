// Config: the sandbox section and plugin permissions, with their error messages.
#include <catch2/catch.hpp>

#include "config/config.h"

using namespace plugvisor::config;

namespace {

plugvisor::Result<SupervisorConfig> parse(const std::string& yaml) {
  return parse_config(yaml, "test.yaml", "/etc/plugvisor");
}

}  // namespace

TEST_CASE("sandbox defaults: enforce, every mechanism required") {
  auto cfg = parse("plugins: []\n");
  REQUIRE(cfg.ok());
  CHECK(cfg->sandbox.mode == SandboxMode::enforce);
  CHECK(cfg->sandbox.require == all_sandbox_mechanisms());
  CHECK(cfg->sandbox.uid_base == 200000);
  CHECK(cfg->sandbox.shared_netns);
}

TEST_CASE("sandbox section and permissions parse, plugin_defaults layer under each plugin") {
  auto cfg = parse(R"(
sandbox: {mode: enforce, require: [user_ns, seccomp], uid_base: 300000, cgroup_name: pv-test,
          shared_netns: false}
secrets: {GITHUB_TOKEN: {env: GITHUB_TOKEN}}
plugin_defaults:
  permissions: {resources: {memory_mb: 64, pids: 16}}
plugins:
  - id: p
    executable: /opt/p
    sandbox: "off"
    permissions:
      filesystem: [{path: /srv/shared/../shared, mode: rw}, {path: /etc/ssl/certs}]
      network: [api.example.com, "*.example.org:8443"]
      secrets: [GITHUB_TOKEN]
      spawn: true
      resources: {memory_mb: 128, cpu_seconds: 5}
  - id: q
    executable: /opt/q
)");
  REQUIRE(cfg.ok());
  CHECK(cfg->sandbox.require == std::vector<std::string>{"user_ns", "seccomp"});
  CHECK(cfg->sandbox.uid_base == 300000);
  CHECK(cfg->sandbox.cgroup_name == "pv-test");
  CHECK_FALSE(cfg->sandbox.shared_netns);
  const auto& p = cfg->plugins[0];
  REQUIRE(p.sandbox.has_value());
  CHECK(*p.sandbox == SandboxMode::off);
  REQUIRE(p.permissions.filesystem.size() == 2);
  CHECK(p.permissions.filesystem[0].path == "/srv/shared");
  CHECK(p.permissions.filesystem[0].writable);
  CHECK_FALSE(p.permissions.filesystem[1].writable);
  CHECK(p.permissions.network.size() == 2);
  CHECK(p.permissions.secrets == std::vector<std::string>{"GITHUB_TOKEN"});
  CHECK(p.permissions.spawn);
  CHECK(p.permissions.resources.memory_mb == 128);
  CHECK(p.permissions.resources.pids == 16);  // from plugin_defaults
  CHECK(p.permissions.resources.cpu_seconds == 5);
  const auto& q = cfg->plugins[1];
  CHECK_FALSE(q.sandbox.has_value());
  CHECK(q.permissions.resources.memory_mb == 64);
  CHECK_FALSE(q.permissions.spawn);
}

TEST_CASE("bad sandbox and permission values name the key and the problem") {
  auto bad = [](const std::string& yaml) {
    auto cfg = parse(yaml);
    REQUIRE_FALSE(cfg.ok());
    return cfg.error().message;
  };
  CHECK_THAT(bad("sandbox: {mode: sometimes}\n"),
             Catch::Contains("sandbox.mode") && Catch::Contains("enforce or off"));
  CHECK_THAT(bad("sandbox: {shared_netns: sometimes}\n"), Catch::Contains("sandbox.shared_netns"));
  CHECK_THAT(bad("sandbox: {require: [seccomp, magic]}\n"),
             Catch::Contains("unknown mechanism 'magic'"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {filesystem: [{path: rel}]}}]\n"),
             Catch::Contains("plugins[0].permissions.filesystem[0].path") &&
                 Catch::Contains("absolute"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {filesystem: [{path: /a, mode: rwx}]}}]\n"),
             Catch::Contains("ro or rw"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {resources: {memory_mb: 1}}}]\n"),
             Catch::Contains("memory_mb"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {spawn: maybe}}]\n"),
             Catch::Contains("spawn"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permisions: {}}]\n"),
             Catch::Contains("permisions"));
}
