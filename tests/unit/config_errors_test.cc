// Config: every kind of mistake is reported as "<file>: <key path>: <what> (line N)".
#include <stdlib.h>

#include <catch2/catch.hpp>

#include "config/config.h"

using namespace plugvisor::config;

namespace {

std::string error_of(const std::string& yaml) {
  auto r = parse_config(yaml, "bad.yaml", "/etc/pv");
  return r.ok() ? "(parsed fine)" : r.error().message;
}

}  // namespace

TEST_CASE("errors name the file, the key path, what is wrong and the line") {
  struct Case {
    const char* yaml;
    const char* message;
  };
  const Case cases[] = {
      {"listn: 127.0.0.1:1\n",
       "bad.yaml: listn: unknown key 'listn' (did you mean 'listen'?) (line 1)"},
      {"listen: nowhere\n",
       "bad.yaml: listen: 'nowhere' is neither host:port nor unix:/path (line 1)"},
      {"log_level: loud\n",
       "bad.yaml: log_level: 'loud' is not one of trace, debug, info, warn, error, critical, off "
       "(line 1)"},
      {"dispatch:\n  budget_ms: 0\n",
       "bad.yaml: dispatch.budget_ms: must be greater than 0 (line 2)"},
      {"dispatch:\n  busy_poll_us: 20000\n",
       "bad.yaml: dispatch.busy_poll_us: must be between 0 and 10000, not 20000 (line 2)"},
      {"dispatch:\n  max_payload_bytes: big\n",
       "bad.yaml: dispatch.max_payload_bytes: must be an integer, not 'big' (line 2)"},
      {"receipts: {queue_capacity: 5, batch_size: 10}\n",
       "bad.yaml: receipts.batch_size: is larger than queue_capacity (5) (line 1)"},
      {"plugins:\n  - id: a\n    executable: /a\n  - id: b\n    executable: /b\n    guards:\n"
       "      breaker_open: 5\n",
       "bad.yaml: plugins[1].guards.breaker_open: unknown key 'breaker_open' (did you mean "
       "'breaker_open_ms'?) (line 7)"},
      {"plugins:\n  - id: a\n    executable: /a\n    guards: {breaker_open_ms: soon}\n",
       "bad.yaml: plugins[0].guards.breaker_open_ms: must be an integer, not 'soon' (line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    guards:\n      backoff_jitter: 1.0\n",
       "bad.yaml: plugins[0].guards.backoff_jitter: must be in [0, 1) (0.25 means +-25 %) (line "
       "5)"},
      {"plugins:\n  - id: a\n    executable: /a\n    guards:\n      backoff_multiplier: 0.5\n",
       "bad.yaml: plugins[0].guards.backoff_multiplier: must be at least 1.0 (1.0 keeps the delay "
       "constant) (line 5)"},
      {"plugins:\n  - id: a\n    executable: /a\n    guards: {backoff_initial_ms: 5000, "
       "backoff_max_ms: 1000}\n",
       "bad.yaml: plugins[0].guards: backoff_max_ms (1000) is less than backoff_initial_ms (5000) "
       "(line 2)"},
      {"plugins:\n  - id: a\n", "bad.yaml: plugins[0]: 'executable' is required (line 2)"},
      {"plugins:\n  - executable: /a\n", "bad.yaml: plugins[0]: 'id' is required (line 2)"},
      {"plugins:\n  - id: Bad_Id\n    executable: /a\n",
       "bad.yaml: plugins[0].id: 'Bad_Id' is not a valid id ([a-z0-9][a-z0-9._-]{0,62}) (line 2)"},
      {"plugins:\n  - id: a\n    executable: /a\n  - id: a\n    executable: /b\n",
       "bad.yaml: plugins[1].id: duplicate id 'a' (already used by plugins[0]) (line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    hooks:\n      - hook: tool.pre_exec\n"
       "        fail_policy: fail_sometimes\n",
       "bad.yaml: plugins[0].hooks[0].fail_policy: must be fail_open or fail_closed, not "
       "'fail_sometimes' (line 6)"},
      {"plugins:\n  - id: a\n    executable: /a\n    hooks: [{hook: tool.nope}]\n",
       "bad.yaml: plugins[0].hooks[0].hook: unknown hook 'tool.nope' (not in the hook catalog) "
       "(line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    hooks: [{hook: message.enrich}, {hook: "
       "message.enrich}]\n",
       "bad.yaml: plugins[0].hooks[1].hook: hook 'message.enrich' is listed twice for this plugin "
       "(line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    hooks: [{hook: tool.pre_exec, timeout_ms: "
       "-5}]\n",
       "bad.yaml: plugins[0].hooks[0].timeout_ms: must be greater than 0 (line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    settings: [1, 2]\n",
       "bad.yaml: plugins[0].settings: must be a mapping (line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    env: {1BAD: x}\n",
       "bad.yaml: plugins[0].env: '1BAD' is not a valid environment variable name (line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    enabled: maybe\n",
       "bad.yaml: plugins[0].enabled: must be true or false, not 'maybe' (line 4)"},
      {"plugins:\n  - id: a\n    executable: /a\n    args: --x\n",
       "bad.yaml: plugins[0].args: must be a list, not a scalar (line 4)"},
      {"plugins: {id: a}\n", "bad.yaml: plugins: must be a list, not a mapping (line 1)"},
      {"plugins:\n  - id: a\n    executable: /bin/${PVTEST_SURELY_UNSET}\n",
       "bad.yaml: plugins[0].executable: environment variable PVTEST_SURELY_UNSET is not set (use "
       "${PVTEST_SURELY_UNSET:-default} to give a default) (line 3)"},
      {"hooks:\n  - name: custom.x\n    mutable: [\"a\"]\n",
       "bad.yaml: hooks[0].mutable[0]: 'a' is not a JSON Pointer (it must start with '/') (line "
       "3)"},
      {"hooks:\n  - blockable: true\n", "bad.yaml: hooks[0]: 'name' is required (line 2)"},
      {"hooks:\n  - name: custom.x\n    output_schema:\n      oneOf: []\n",
       "bad.yaml: hooks[0].output_schema: schema at (root): unsupported keyword 'oneOf' (line 3)"},
      {"hooks:\n  - name: custom.x\n    output_schema:\n      properties:\n        a: {type: "
       "text}\n",
       "bad.yaml: hooks[0].output_schema: schema at /properties/a: 'type' must be a type name or "
       "an "
       "array of type names (line 3)"},
      {"listen: a:1\nlisten: b:2\n", "bad.yaml: listen: repeated key (line 2)"},
      {"- just\n- a list\n", "bad.yaml: (top level): must be a mapping, not a list (line 1)"},
  };
  ::unsetenv("PVTEST_SURELY_UNSET");
  for (const Case& c : cases) {
    INFO(c.yaml);
    CHECK(error_of(c.yaml) == c.message);
  }
}

TEST_CASE("YAML syntax errors carry line and column") {
  CHECK(error_of("plugins: [\n  {id: a,\n") ==
        "bad.yaml: invalid YAML: end of map flow not found (line 3, column 1)");
}

TEST_CASE("all mistakes are reported at once, one per line, and nothing is returned") {
  const std::string msg = error_of(R"(
listen: 127.0.0.1:7701
dispatch: {budget_ms: 0}
plugins:
  - id: a
    executable: /a
    guards: {breaker_failure_threshold: 0}
  - id: b
)");
  CHECK(msg ==
        "bad.yaml: dispatch.budget_ms: must be greater than 0 (line 3)\n"
        "bad.yaml: plugins[0].guards.breaker_failure_threshold: must be greater than 0 (line 7)\n"
        "bad.yaml: plugins[1]: 'executable' is required (line 8)");
}
