// What plugvisorctl prints for each admin.v1 / hooks.v1 answer and for failed calls.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>

#include "plugvisorctl/render.h"

using namespace plugvisor::cli;

namespace {

// Times in these expectations are UTC; the process zone is pinned once for the whole file.
const bool kUtc = [] {
  setenv("TZ", "UTC", 1);
  tzset();
  return true;
}();

constexpr int64_t kAt = 1'714'567'384'123;  // 2024-05-01T12:43:04.123Z

admin::PluginStatus ready_plugin() {
  admin::PluginStatus p;
  p.set_id("linkifier");
  p.set_version("1.2.0");
  p.set_state("ready");
  p.set_pid(4242);
  p.set_uptime_ms(192'000);
  p.set_restarts(1);
  p.set_circuit("closed");
  p.set_calls(120);
  p.set_failures(2);
  p.set_p50_us(80);
  p.set_p99_us(812);
  p.set_enabled(true);
  p.set_executable("/usr/lib/plugvisor/plugins/linkifier");
  p.set_sandbox("namespaces,seccomp");
  return p;
}

hooks::Receipt receipt(const char* plugin, const char* status, int64_t us) {
  hooks::Receipt r;
  r.set_dispatch_id("0123456789abcdef");
  r.set_plugin_id(plugin);
  r.set_hook("tool.pre_exec");
  r.set_status(status);
  r.set_duration_us(us);
  r.set_at_unix_ms(kAt);
  return r;
}

}  // namespace

TEST_CASE("status: table of plugins, then the supervisor line") {
  REQUIRE(kUtc);
  admin::ListPluginsResponse resp;
  *resp.add_plugins() = ready_plugin();
  auto* stopped = resp.add_plugins();
  stopped->set_id("redactor");
  stopped->set_state("disabled");
  stopped->set_circuit("open");
  stopped->set_restarts(5);
  stopped->set_calls(0);
  auto* sup = resp.mutable_supervisor();
  sup->set_version("0.1.0");
  sup->set_uptime_ms(2 * 3600'000 + 5 * 60'000);
  sup->set_database_connected(true);
  sup->set_database("embedded");
  sup->set_receipts_queued(3);
  sup->set_receipts_written(1200);
  sup->set_receipts_dropped(0);

  CHECK(render_status(resp) ==
        "PLUGIN     VERSION  STATE      PID  UPTIME  RESTARTS  CIRCUIT  CALLS  FAILURES    P99\n"
        "linkifier  1.2.0    ready     4242   3m12s         1  closed     120         2  812µs\n"
        "redactor   -        disabled     -       -         5  open         0         0      -\n"
        "\n"
        "supervisor: plugvisord 0.1.0, up 2h05m; database connected (embedded); receipts 3 "
        "queued, 1200 written, 0 dropped\n");
}

TEST_CASE("status: no plugins, database down") {
  admin::ListPluginsResponse resp;
  auto* sup = resp.mutable_supervisor();
  sup->set_version("0.1.0");
  sup->set_uptime_ms(5'000);
  sup->set_database_connected(false);
  sup->set_database("postgresql://plugvisor:***@db/plugvisor");
  sup->set_receipts_dropped(17);
  CHECK(render_status(resp) ==
        "no plugins configured\n\n"
        "supervisor: plugvisord 0.1.0, up 5s; database DISCONNECTED "
        "(postgresql://plugvisor:***@db/plugvisor); receipts 0 queued, 0 written, 17 dropped\n");
}

TEST_CASE("plugin get: every field, then the hook bindings") {
  auto p = ready_plugin();
  auto* h1 = p.add_hooks();
  h1->set_hook("message.enrich");
  h1->set_priority(10);
  h1->set_fail_policy("fail_open");
  h1->set_timeout_ms(1500);
  auto* h2 = p.add_hooks();
  h2->set_hook("tool.pre_exec");
  h2->set_priority(-5);
  h2->set_fail_policy("fail_closed");
  h2->set_timeout_ms(250);
  CHECK(render_plugin(p) ==
        "id:              linkifier\n"
        "version:         1.2.0\n"
        "state:           ready\n"
        "enabled:         yes\n"
        "disabled reason: -\n"
        "pid:             4242\n"
        "uptime:          3m12s\n"
        "restarts:        1\n"
        "circuit:         closed\n"
        "calls:           120\n"
        "failures:        2\n"
        "p50:             80µs\n"
        "p99:             812µs\n"
        "last error:      -\n"
        "executable:      /usr/lib/plugvisor/plugins/linkifier\n"
        "sandbox:         namespaces,seccomp\n"
        "host calls:      -\n"
        "denied calls:    0\n"
        "\n"
        "HOOK            PRIORITY  POLICY       TIMEOUT\n"
        "message.enrich        10  fail_open     1500ms\n"
        "tool.pre_exec         -5  fail_closed    250ms\n");
}

TEST_CASE("plugin get: a plugin without bindings says so") {
  admin::PluginStatus p;
  p.set_id("idle");
  CHECK_THAT(render_plugin(p), Catch::EndsWith("\nno hook bindings\n"));
}

TEST_CASE("state line after enable/disable/restart") {
  auto p = ready_plugin();
  CHECK(render_state_line(p) == "linkifier: ready (pid 4242)\n");
  p.set_state("disabled");
  p.set_pid(0);
  p.set_enabled(false);
  CHECK(render_state_line(p) == "linkifier: disabled, disabled\n");
  p.set_disabled_reason("crash loop: 5 failures in 5m");
  CHECK(render_state_line(p) == "linkifier: disabled, disabled: crash loop: 5 failures in 5m\n");
}

TEST_CASE("event line: time, plugin, kind, state, compact detail") {
  admin::Event e;
  e.set_at_unix_ms(kAt);
  e.set_plugin_id("redactor");
  e.set_kind("exit");
  e.set_state("backoff");
  e.set_detail_json("{\n  \"signal\": 9,\n  \"code\": null\n}");
  CHECK(render_event_line(e) ==
        "2024-05-01T12:43:04.123Z  redactor          exit            backoff       "
        "{\"code\":null,\"signal\":9}\n");

  SECTION("supervisor events have no plugin; no detail leaves no trailing blanks") {
    admin::Event s;
    s.set_at_unix_ms(kAt);
    s.set_kind("database");
    CHECK(render_event_line(s) ==
          "2024-05-01T12:43:04.123Z  -                 database        -\n");
  }
  SECTION("detail that is not JSON is shown as sent") {
    e.set_detail_json("not json");
    CHECK_THAT(render_event_line(e), Catch::EndsWith("backoff       not json\n"));
  }
}

TEST_CASE("receipts table") {
  google::protobuf::RepeatedPtrField<hooks::Receipt> rs;
  auto ok = receipt("redactor", "ok", 812);
  ok.add_mutated_paths("/output");
  ok.add_mutated_paths("/meta/redacted");
  *rs.Add() = ok;
  auto failed = receipt("policy-guard", "failed", 1'500'200);
  failed.set_error_code("TIMEOUT");
  failed.set_error_message("no answer within 1500ms");
  *rs.Add() = failed;
  *rs.Add() = receipt("slow", "skipped", 0);
  const std::string expected =
      "TIME                      DISPATCH  PLUGIN        HOOK           STATUS   "
      "ERROR                             DURATION  MUTATED\n"
      "2024-05-01T12:43:04.123Z  01234567  redactor      tool.pre_exec  ok       "
      "-                                    812µs  /output,/meta/redacted\n"
      "2024-05-01T12:43:04.123Z  01234567  policy-guard  tool.pre_exec  failed   "
      "TIMEOUT: no answer within 1500ms     1.50s  -\n"
      "2024-05-01T12:43:04.123Z  01234567  slow          tool.pre_exec  skipped  "
      "-                                        -  -\n";
  CHECK(render_receipts(rs) == expected);
}

TEST_CASE("receipts: long errors are cut, none at all says so") {
  google::protobuf::RepeatedPtrField<hooks::Receipt> rs;
  CHECK(render_receipts(rs) == "no receipts\n");
  auto r = receipt("p", "failed", 10);
  r.set_error_code("INVALID_OUTPUT");
  r.set_error_message(std::string(200, 'x'));
  *rs.Add() = r;
  const std::string out = render_receipts(rs);
  CHECK_THAT(out, Catch::Contains("INVALID_OUTPUT: xxx"));
  CHECK_THAT(out, Catch::Contains("x…"));
  CHECK_THAT(out, !Catch::Contains(std::string(100, 'x')));
}

TEST_CASE("dispatch: pretty data, block line, receipts") {
  hooks::DispatchResponse d;
  d.set_dispatch_id("0123456789abcdef");
  d.set_data_json(R"({"tool":"shell","args":["rm","-rf","/"]})");
  d.set_blocked(true);
  d.set_blocked_by("policy-guard");
  d.set_reason("argument matches deny list: rm -rf");
  *d.add_receipts() = receipt("policy-guard", "blocked", 90);
  const std::string out = render_dispatch(d);
  CHECK_THAT(out, Catch::StartsWith("{\n  \"args\": [\n    \"rm\",\n    \"-rf\",\n    \"/\"\n  ],\n"
                                    "  \"tool\": \"shell\"\n}\n"
                                    "blocked by policy-guard: argument matches deny list: rm "
                                    "-rf\n\nTIME "));
  CHECK_THAT(out, Catch::Contains("policy-guard  tool.pre_exec  blocked"));

  SECTION("not blocked, no handlers") {
    hooks::DispatchResponse none;
    none.set_data_json("{}");
    CHECK(render_dispatch(none) == "{}\n\nno handlers ran\n");
  }
}

TEST_CASE("json lines use proto3's JSON mapping and include zero fields") {
  admin::PluginResponse resp;
  resp.mutable_plugin()->set_id("x");
  const std::string line = to_json_line(resp);
  CHECK(line.find('\n') == std::string::npos);
  CHECK_THAT(line, Catch::StartsWith(R"({"plugin":{"id":"x","version":"","state":"")"));
  CHECK_THAT(line, Catch::Contains(R"("pid":0)"));
  CHECK_THAT(line, Catch::Contains(R"("uptimeMs":"0")"));  // int64 is a string in proto3 JSON
}

TEST_CASE("JSON helpers keep unparseable text as is") {
  CHECK(compact_json("{ \"a\" : [1, 2] }") == R"({"a":[1,2]})");
  CHECK(pretty_json("[1]") == "[\n  1\n]");
  CHECK(compact_json("oops{") == "oops{");
  CHECK(pretty_json("") == "");
}

TEST_CASE("rpc errors: unreachable daemon vs. a status from it") {
  const grpc::Status refused(grpc::StatusCode::UNAVAILABLE, "Connection refused");
  CHECK(render_rpc_error("status", "127.0.0.1:7701", refused, /*connected=*/false) ==
        "plugvisorctl: cannot reach plugvisord at 127.0.0.1:7701: Connection refused");
  // plugvisord itself says UNAVAILABLE when its database is away: that is not "cannot reach".
  const grpc::Status db_down(grpc::StatusCode::UNAVAILABLE, "database connection lost");
  CHECK(render_rpc_error("receipts", "127.0.0.1:7701", db_down, /*connected=*/true) ==
        "plugvisorctl: receipts: UNAVAILABLE: database connection lost");
  CHECK(render_rpc_error("plugin get", "x:1",
                         grpc::Status(grpc::StatusCode::NOT_FOUND, "no plugin 'nope'"),
                         true) == "plugvisorctl: plugin get: NOT_FOUND: no plugin 'nope'");
  CHECK(status_code_name(grpc::StatusCode::DEADLINE_EXCEEDED) == "DEADLINE_EXCEEDED");
  CHECK(status_code_name(grpc::StatusCode::FAILED_PRECONDITION) == "FAILED_PRECONDITION");
  CHECK(status_code_name(static_cast<grpc::StatusCode>(99)) == "UNKNOWN");
}
