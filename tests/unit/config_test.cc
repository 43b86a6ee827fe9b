// Config: a complete file, layering of plugin_defaults, env expansion, path resolution.
#include "config/config.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "plugvisor/common/ids.h"

using namespace plugvisor;
using namespace plugvisor::config;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const char* kFull = R"(
listen: 0.0.0.0:7701
state_dir: /var/lib/plugvisor
runner: /usr/lib/plugvisor/plugvisor-runner
log_level: debug
database: {url: "postgresql:///pv", embedded_user: postgres, pg_bindir: /usr/lib/postgresql/15/bin}
receipts: {queue_capacity: 100, batch_size: 10, flush_interval_ms: 50}
dispatch: {budget_ms: 4000, max_payload_bytes: 2048, threads: 3, busy_poll_us: 0}
plugin_defaults:
  start_timeout_ms: 7000
  guards: {breaker_failure_threshold: 4, backoff_jitter: 0.1}
  logs: {burst: 800}
hooks:
  - name: custom.hook
    blockable: true
    mutable: ["/a", "/b/c"]
    timeout_ms: 900
    output_schema:
      type: object
      properties: {a: {type: string, maxLength: 5}}
  - name: tool.pre_exec
    blockable: false
plugins:
  - id: linkifier
    executable: /opt/plugins/linkifier
    args: ["--x", "1"]
    env: {KEY: value}
    settings:
      keys: [ABC, DEF]
      limit: 10
      ratio: 0.5
      quoted: "10"
      flag: true
      none: ~
      nested: {deep: {x: y}}
    hooks:
      - {hook: message.enrich, priority: 10, fail_policy: fail_open, timeout_ms: 500}
      - {hook: custom.hook, fail_policy: fail_closed}
    cancel_grace_ms: 0
    drain_grace_ms: 100
    term_grace_ms: 200
    guards: {breaker_open_ms: 1000, crash_loop_max_failures: 2}
    logs: {line_max_bytes: 100, lines_per_second: 5}
  - id: redactor.v2
    executable: /opt/plugins/redactor
    enabled: false
)";

}  // namespace

TEST_CASE("a complete config parses into the structs") {
  auto r = parse_config(kFull, "pv.yaml", "/etc/plugvisor");
  INFO((r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  const SupervisorConfig& c = *r;
  CHECK(c.source == "pv.yaml");
  CHECK(c.listen == "0.0.0.0:7701");
  CHECK(c.state_dir == "/var/lib/plugvisor");
  CHECK(c.runner_path == "/usr/lib/plugvisor/plugvisor-runner");
  CHECK(c.log_level == "debug");
  CHECK(c.database.url == "postgresql:///pv");
  CHECK(c.database.embedded_user == "postgres");
  CHECK(c.database.pg_bindir == "/usr/lib/postgresql/15/bin");
  CHECK(c.receipts.queue_capacity == 100);
  CHECK(c.receipts.batch_size == 10);
  CHECK(c.receipts.flush_interval == 50ms);
  CHECK(c.limits.default_budget == 4000ms);
  CHECK(c.limits.max_payload_bytes == 2048);
  CHECK(c.dispatch_threads == 3);
  CHECK(c.dispatch_busy_poll == 0us);

  const auto* custom = c.catalog.find("custom.hook");
  REQUIRE(custom != nullptr);
  CHECK(custom->blockable);
  CHECK(custom->mutable_paths == std::vector<std::string>{"/a", "/b/c"});
  CHECK(custom->default_timeout == 900ms);
  REQUIRE(custom->output_schema.has_value());
  CHECK((*custom->output_schema)["properties"]["a"]["maxLength"] == 5);
  CHECK_FALSE(c.catalog.find("tool.pre_exec")->blockable);  // replaced
  CHECK(c.catalog.find("tool.pre_exec")->mutable_paths.empty());
  CHECK(c.catalog.find("message.enrich") != nullptr);  // defaults kept

  REQUIRE(c.plugins.size() == 2);
  const PluginConfig& p = c.plugins[0];
  CHECK(p.id == "linkifier");
  CHECK(p.executable == "/opt/plugins/linkifier");
  CHECK(p.args == std::vector<std::string>{"--x", "1"});
  CHECK(p.env == std::map<std::string, std::string>{{"KEY", "value"}});
  CHECK(p.enabled);
  CHECK(json::parse(p.settings_json) == json::parse(R"({"keys": ["ABC", "DEF"], "limit": 10,
      "ratio": 0.5, "quoted": "10", "flag": true, "none": null, "nested": {"deep": {"x": "y"}}})"));
  REQUIRE(p.hooks.size() == 2);
  CHECK(p.hooks[0].hook == "message.enrich");
  CHECK(p.hooks[0].priority == 10);
  CHECK(p.hooks[0].fail_policy == dispatch::FailPolicy::open);
  CHECK(p.hooks[0].timeout == 500ms);
  CHECK(p.hooks[1].hook == "custom.hook");
  CHECK_FALSE(p.hooks[1].priority.has_value());
  CHECK(p.hooks[1].fail_policy == dispatch::FailPolicy::closed);
  CHECK_FALSE(p.hooks[1].timeout.has_value());
  CHECK(p.start_timeout == 7000ms);  // from plugin_defaults
  CHECK(p.cancel_grace == 0ms);
  CHECK(p.drain_grace == 100ms);
  CHECK(p.term_grace == 200ms);
  CHECK(p.guards.breaker_failure_threshold == 4);  // defaults, merged key by key
  CHECK(p.guards.backoff_jitter == Approx(0.1));
  CHECK(p.guards.breaker_open_for == 1000ms);  // the plugin's own
  CHECK(p.guards.crash_loop_max_failures == 2);
  CHECK(p.guards.backoff_max == 300000ms);  // built-in default
  CHECK(p.logs.line_max_bytes == 100);
  CHECK(p.logs.lines_per_second == 5);
  CHECK(p.logs.burst == 800);

  const PluginConfig& q = c.plugins[1];
  CHECK(q.id == "redactor.v2");
  CHECK_FALSE(q.enabled);
  CHECK(q.settings_json == "{}");
  CHECK(q.hooks.empty());
  CHECK(q.start_timeout == 7000ms);
  CHECK(q.guards.breaker_failure_threshold == 4);
  CHECK(q.guards.breaker_open_for == 60000ms);
}

TEST_CASE("an empty file is the built-in defaults") {
  auto r = parse_config("", "empty.yaml", "/etc");
  REQUIRE(r.ok());
  CHECK(r->listen == "127.0.0.1:7701");
  CHECK(r->plugins.empty());
  CHECK(r->catalog.all().size() == 11);
  CHECK(r->dispatch_threads == 1);
  CHECK(r->dispatch_busy_poll == 100us);
  CHECK(r->limits.default_budget == 8000ms);
}

TEST_CASE("relative paths resolve against the config file's directory or plugin_dir") {
  SECTION("no plugin_dir: against the config dir") {
    auto r = parse_config(R"(
state_dir: state
runner: ../bin/plugvisor-runner
plugins:
  - {id: a, executable: plugins/a}
  - {id: b, executable: ./b}
  - {id: c, executable: /abs/c}
)",
                          "x.yaml", "/etc/pv");
    REQUIRE(r.ok());
    CHECK(r->state_dir == "/etc/pv/state");
    CHECK(r->runner_path == "/etc/bin/plugvisor-runner");
    CHECK(r->plugin_dir.empty());
    CHECK(r->plugins[0].executable == "/etc/pv/plugins/a");
    CHECK(r->plugins[1].executable == "/etc/pv/b");
    CHECK(r->plugins[2].executable == "/abs/c");
  }
  SECTION("relative plugin_dir is itself relative to the config dir") {
    auto r = parse_config("plugin_dir: ./plugins\nplugins: [{id: a, executable: bin/a}]\n",
                          "x.yaml", "/etc/pv");
    REQUIRE(r.ok());
    CHECK(r->plugin_dir == "/etc/pv/plugins");
    CHECK(r->plugins[0].executable == "/etc/pv/plugins/bin/a");
  }
  SECTION("absolute plugin_dir") {
    auto r = parse_config("plugin_dir: /usr/libexec/pv\nplugins: [{id: a, executable: a}]\n",
                          "x.yaml", "/etc/pv");
    REQUIRE(r.ok());
    CHECK(r->plugins[0].executable == "/usr/libexec/pv/a");
  }
}

TEST_CASE("${VAR} and ${VAR:-default} are expanded in every string scalar") {
  ::setenv("PVTEST_DB_URL", "postgresql://db/pv", 1);
  ::setenv("PVTEST_PORT", "7800", 1);
  ::setenv("PVTEST_EMPTY", "", 1);
  ::setenv("PVTEST_TOKEN", "12345", 1);
  ::unsetenv("PVTEST_UNSET");
  auto r = parse_config(R"(
listen: "127.0.0.1:${PVTEST_PORT}"
database: {url: "${PVTEST_DB_URL}"}
dispatch: {budget_ms: "${PVTEST_UNSET:-3000}"}
plugins:
  - id: p
    executable: /bin/${PVTEST_UNSET:-true}
    args: ["--db=${PVTEST_DB_URL}", "${PVTEST_EMPTY:-fallback}", "$${PVTEST_PORT}"]
    env: {TOKEN: "${PVTEST_TOKEN}"}
    settings:
      token: ${PVTEST_TOKEN}
      plain: 12345
)",
                        "env.yaml", "/");
  INFO((r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->listen == "127.0.0.1:7800");
  CHECK(r->database.url == "postgresql://db/pv");
  CHECK(r->limits.default_budget == 3000ms);
  const PluginConfig& p = r->plugins.at(0);
  CHECK(p.executable == "/bin/true");
  CHECK(p.args ==
        std::vector<std::string>{"--db=postgresql://db/pv", "fallback", "${PVTEST_PORT}"});
  CHECK(p.env.at("TOKEN") == "12345");
  // An expanded value stays a string even when it looks like a number.
  CHECK(json::parse(p.settings_json) == json{{"token", "12345"}, {"plain", 12345}});
}

TEST_CASE("load_config reads a file and resolves against its directory") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pv-config-test-" + random_id());
  fs::create_directories(dir);
  const fs::path file = dir / "plugvisor.yaml";
  {
    std::ofstream out(file);
    out << "plugins:\n  - id: a\n    executable: plugins/a\n";
  }
  auto r = load_config(file.string());
  REQUIRE(r.ok());
  CHECK(r->source == file.string());
  CHECK(r->plugins.at(0).executable == (dir / "plugins/a").string());

  auto missing = load_config((dir / "nope.yaml").string());
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("nope.yaml") &&
                                          Catch::Contains("cannot read") &&
                                          Catch::Contains("No such file"));
  fs::remove_all(dir);
}
