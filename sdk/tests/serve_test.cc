// The SDK's server seen from the supervisor's side: status codes, deadlines, InFlight, and the
// ways a plugin process ends (Shutdown drain, SIGTERM, hang-up, a handler that never returns).
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <future>

#include "spawned_plugin.h"

using namespace plugvisor::sdk::test;
using namespace std::chrono_literals;
using grpc::StatusCode;

namespace {

std::unique_ptr<SpawnedPlugin> start(const std::string& fixture, std::vector<std::string> args = {},
                                     const std::string& settings = "{}") {
  auto p = std::make_unique<SpawnedPlugin>(plugin_path(fixture), std::move(args));
  pb::DescribeResponse resp;
  auto st = p->describe(&resp, {1}, settings);
  INFO(st.error_message());
  REQUIRE(st.ok());
  return p;
}

// Bounds for things that happen promptly on an idle machine: generous, because the suite runs
// next to PostgreSQL and other plugin processes, and a success returns at once anyway.
constexpr auto kExitWithin = 30s;
constexpr auto kSoon = 10s;

bool in_flight_is(SpawnedPlugin& p, const std::vector<std::string>& ids) {
  return wait_until([&] { return p.in_flight() == ids; }, kSoon);
}

std::string data_awaiting(const GoFile& go) {
  return R"({"_await_file":")" + go.path() + R"("})";  // a temp path: nothing to escape
}

}  // namespace

TEST_CASE("Describe fails without a common protocol version", "[sdk][serve]") {
  SpawnedPlugin p(plugin_path("plugvisor-fixture-noop"));
  pb::DescribeResponse resp;
  auto st = p.describe(&resp, {2, 3});
  CHECK(st.error_code() == StatusCode::FAILED_PRECONDITION);
  CHECK_THAT(st.error_message(),
             Catch::Contains("no common plugin protocol version") && Catch::Contains("[2, 3]"));
  // Invoke before a successful Describe is a supervisor bug, reported as such.
  pb::InvokeResponse inv;
  CHECK(p.invoke("tool.pre_exec", "{}", &inv).error_code() == StatusCode::FAILED_PRECONDITION);
}

TEST_CASE("Describe rejects bad settings and a plugin's configure error", "[sdk][serve]") {
  SpawnedPlugin noop(plugin_path("plugvisor-fixture-noop"));
  pb::DescribeResponse resp;
  CHECK(noop.describe(&resp, {1}, "[1]").error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK(noop.describe(&resp, {1}, "{oops").error_code() == StatusCode::INVALID_ARGUMENT);

  SpawnedPlugin guard(plugin_path("plugvisor-policy-guard"));
  auto st = guard.describe(&resp, {1}, R"({"deny": ["rm (unclosed"]})");
  CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("invalid deny pattern \"rm (unclosed\""));
  // A second, good Describe is accepted: a rejected configuration leaves no trace.
  CHECK(guard.describe(&resp, {1}, "{}").ok());
  CHECK(resp.plugin_id() == "policy-guard");
  // Changing settings needs a new process.
  CHECK(guard.describe(&resp, {1}, R"({"deny": []})").error_code() ==
        StatusCode::FAILED_PRECONDITION);
  CHECK(guard.describe(&resp, {1}, "{}").ok());
}

TEST_CASE("Invoke maps handler outcomes to responses and status codes", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-echo", {"--hook", "tool.pre_exec"});
  pb::InvokeResponse r;

  CHECK(p->invoke("tool.pre_exec", R"({"a":1})", &r).ok());
  CHECK(r.decision() == pb::CONTINUE);
  CHECK(r.patch_json().empty());

  r.Clear();
  REQUIRE(p->invoke("tool.pre_exec", R"({"_patch":{"arguments":{"x":2}}})", &r).ok());
  CHECK(r.patch_json() == R"({"arguments":{"x":2}})");

  r.Clear();
  REQUIRE(p->invoke("tool.pre_exec", R"({"_block":"no way"})", &r).ok());
  CHECK(r.decision() == pb::BLOCK);
  CHECK(r.reason() == "no way");

  auto st = p->invoke("tool.pre_exec", R"({"_fail":"broken"})", &r);
  CHECK(st.error_code() == StatusCode::UNKNOWN);
  CHECK(st.error_message() == "broken");

  st = p->invoke("tool.pre_exec", R"({"_sleep_ms":"not a number"})", &r);
  CHECK(st.error_code() == StatusCode::UNKNOWN);
  CHECK_THAT(st.error_message(), Catch::StartsWith("handler threw: "));

  CHECK(p->invoke("model.pre_call", "{}", &r).error_code() == StatusCode::UNIMPLEMENTED);
  CHECK(p->invoke("tool.pre_exec", "{not json", &r).error_code() == StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("echo appends its id to data.trace when settings.trace is set", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-echo", {"--id", "e1"}, R"({"trace": true})");
  pb::InvokeResponse r;
  REQUIRE(p->invoke("tool.pre_exec", R"({"trace":["e0"]})", &r).ok());
  CHECK(r.patch_json() == R"({"trace":["e0","e1"]})");
}

TEST_CASE("the deadline reaches the handler, and InFlight lists running calls", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-echo");
  pb::InvokeResponse r;
  const auto t0 = std::chrono::steady_clock::now();
  auto st = p->invoke("tool.pre_exec", R"({"_sleep_ms":60000})", &r, 300ms);
  CHECK(st.error_code() == StatusCode::DEADLINE_EXCEEDED);
  CHECK(std::chrono::steady_clock::now() - t0 < kSoon);

  // A cooperative handler leaves the in-flight list soon after its deadline, not after its 60 s.
  CHECK(in_flight_is(*p, {}));

  GoFile go;
  auto slow = std::async(std::launch::async, [&] {
    pb::InvokeResponse rr;
    return p->invoke("tool.pre_exec", data_awaiting(go), &rr, 60s, "inv-slow");
  });
  CHECK(in_flight_is(*p, {"inv-slow"}));
  go.release();
  CHECK(slow.get().ok());
  // The ticket is released before the answer is sent: no wait needed here.
  CHECK(p->in_flight().empty());
}

TEST_CASE("an answer after the handler's deadline is DEADLINE_EXCEEDED, from the plugin",
          "[sdk][serve]") {
  auto p = start("plugvisor-fixture-echo");
  // timeout_ms is tighter than the gRPC deadline, so only the plugin knows this deadline; the
  // cooperative handler gives up with Result::fail, which must still read as a timeout.
  pb::InvokeRequest req;
  req.set_hook("tool.pre_exec");
  req.set_data_json(R"({"_sleep_ms":60000})");
  req.set_timeout_ms(300);
  req.mutable_context()->set_invocation_id("inv-late");
  pb::InvokeResponse r;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  const auto t0 = std::chrono::steady_clock::now();
  auto st = p->stub().Invoke(&ctx, req, &r);
  CHECK(st.error_code() == StatusCode::DEADLINE_EXCEEDED);
  CHECK(st.error_message() == "the handler answered after its deadline");
  CHECK(std::chrono::steady_clock::now() - t0 < kSoon);
  CHECK(p->in_flight().empty());
}

TEST_CASE("Shutdown drains in-flight calls, refuses new ones, then exits 0", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-echo");
  GoFile go;
  auto slow = std::async(std::launch::async, [&] {
    pb::InvokeResponse rr;
    return p->invoke("tool.pre_exec", data_awaiting(go), &rr, 60s, "inv-drain");
  });
  REQUIRE(in_flight_is(*p, {"inv-drain"}));
  REQUIRE(p->shutdown(60000).ok());
  pb::InvokeResponse r;
  CHECK(p->invoke("tool.pre_exec", "{}", &r).error_code() == StatusCode::UNAVAILABLE);
  go.release();
  const auto drained = slow.get();
  INFO(drained.error_code() << ": " << drained.error_message());
  CHECK(drained.ok());  // the drained call completes normally
  CHECK(p->wait_exit_text(kExitWithin) == "exit 0");
}

TEST_CASE("SIGTERM stops the plugin in order", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-noop");
  REQUIRE(::kill(p->pid(), SIGTERM) == 0);
  CHECK(p->wait_exit_text(kExitWithin) == "exit 0");
}

TEST_CASE("the plugin exits when the supervisor hangs up fd 3", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-noop");
  p->hang_up();
  CHECK(p->wait_exit_text(kExitWithin) == "exit 0");
}

TEST_CASE("a handler that ignores its deadline does not keep a shut-down plugin alive",
          "[sdk][serve]") {
  auto p = start("plugvisor-fixture-hang");
  auto hung = std::async(std::launch::async, [&] {
    pb::InvokeResponse rr;
    return p->invoke("tool.pre_exec", R"({"hang":true})", &rr, 1s, "inv-hung");
  });
  CHECK(in_flight_is(*p, {"inv-hung"}));
  CHECK(hung.get().error_code() == StatusCode::DEADLINE_EXCEEDED);
  // The caller gave up, but the handler is still running and InFlight says so.
  CHECK(p->in_flight() == std::vector<std::string>{"inv-hung"});
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(p->shutdown(300).ok());
  CHECK(p->wait_exit_text(kExitWithin) == "exit 0");
  // The 300 ms grace, not the hung handler, decides when it leaves.
  CHECK(std::chrono::steady_clock::now() - t0 < kSoon);
}

TEST_CASE("a plugin started without fd 3 explains itself and exits 2", "[sdk][serve]") {
  // fd 3 of this test process is not handed on: posix_spawn through /bin/sh closes it.
  const std::string cmd = plugin_path("plugvisor-fixture-noop") + " 3>&- 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> out(::popen(cmd.c_str(), "r"), ::pclose);
  REQUIRE(out);
  std::string text;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, out.get())) text.append(buf, n);
  const int status = ::pclose(out.release());
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(text, Catch::Contains("this is a plugvisor plugin") &&
                       Catch::Contains("plugvisord starts it"));
}

TEST_CASE("fixtures that fail to start or never describe", "[sdk][serve]") {
  SpawnedPlugin exits(plugin_path("plugvisor-fixture-exit-at-start"));
  CHECK(exits.wait_exit_text(kExitWithin) == "exit 3");

  SpawnedPlugin silent(plugin_path("plugvisor-fixture-no-describe"));
  pb::DescribeRequest req;
  req.add_supported_protocol_versions(1);
  pb::DescribeResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 300ms);
  CHECK(silent.stub().Describe(&ctx, req, &resp).error_code() == StatusCode::DEADLINE_EXCEEDED);
  // That deadline passes whether or not the fixture got as far as serving. A SIGTERM that beats
  // its signal set-up kills it outright, so first get an answer from its server: it has no
  // InFlight, and answers UNIMPLEMENTED once it serves (its stop signals are blocked by then).
  pb::InFlightRequest in_flight_req;
  pb::InFlightResponse in_flight_resp;
  grpc::ClientContext in_flight_ctx;
  in_flight_ctx.set_deadline(std::chrono::system_clock::now() + kExitWithin);
  REQUIRE(silent.stub().InFlight(&in_flight_ctx, in_flight_req, &in_flight_resp).error_code() ==
          StatusCode::UNIMPLEMENTED);
  REQUIRE(::kill(silent.pid(), SIGTERM) == 0);
  CHECK(silent.wait_exit_text(kExitWithin) == "exit 0");
}

TEST_CASE("bad-output fixture returns what the supervisor must reject", "[sdk][serve]") {
  pb::InvokeResponse r;
  auto invalid = start("plugvisor-fixture-bad-output", {"--mode", "invalid-json"});
  REQUIRE(invalid->invoke("tool.pre_exec", "{}", &r).ok());
  CHECK(r.patch_json() == "{not json");

  auto forbidden = start("plugvisor-fixture-bad-output",
                         {"--mode", "forbidden-mutation", "--hook", "response.pre_deliver"});
  REQUIRE(forbidden->invoke("response.pre_deliver", "{}", &r).ok());
  CHECK_THAT(r.patch_json(), Catch::Contains("\"forbidden\""));

  auto blocks = start("plugvisor-fixture-bad-output", {"--mode", "block-nonblockable"});
  REQUIRE(blocks->invoke("tool.post_exec", "{}", &r).ok());
  CHECK(r.decision() == pb::BLOCK);
  REQUIRE(blocks->shutdown(100).ok());
  CHECK(blocks->wait_exit_text(kExitWithin) == "exit 0");
}

TEST_CASE("crash fixture aborts on the Nth call", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-crash", {"--crash-on", "2"});
  pb::InvokeResponse r;
  CHECK(p->invoke("tool.pre_exec", "{}", &r).ok());
  CHECK(p->invoke("tool.pre_exec", "{}", &r).error_code() == StatusCode::UNAVAILABLE);
  CHECK(p->wait_exit_text(kExitWithin) == "signal " + std::to_string(SIGABRT));
}

TEST_CASE("flood fixture floods stdout while serving", "[sdk][serve]") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  plugvisor::UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnedPlugin p(plugin_path("plugvisor-fixture-flood"),
                  {"--lines", "2000", "--line-bytes", "100"}, write_end.get());
  write_end.reset();
  pb::DescribeResponse d;
  REQUIRE(p.describe(&d).ok());

  std::string out;
  char buf[65536];
  const size_t expected = 2000 * 100 + (1 << 20) + 1;
  while (out.size() < expected) {
    const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  REQUIRE(out.size() == expected);
  CHECK(out.substr(0, 13) == "flood line 0 ");
  CHECK(out.find('\n') == 99);
  CHECK(out.rfind('\n', out.size() - 2) == 2000 * 100 - 1);  // then one 1 MiB line
  pb::InvokeResponse r;
  CHECK(p.invoke("tool.pre_exec", "{}", &r).ok());
}

TEST_CASE("alloc fixture grows its memory in 16 MiB steps", "[sdk][serve]") {
  auto p = start("plugvisor-fixture-alloc", {"--max-mb", "64"});
  pb::InvokeResponse r;
  CHECK(p->invoke("tool.pre_exec", "{}", &r, 1500ms).error_code() == StatusCode::DEADLINE_EXCEEDED);
  // The handler goes on growing after the caller gave up; on a busy machine touching 64 MiB
  // can take longer than the call did, so await the size rather than expect it by now.
  auto rss_kb = [&] {
    std::ifstream status("/proc/" + std::to_string(p->pid()) + "/status");
    long kb = 0;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmRSS:", 0) == 0) kb = std::stol(line.substr(6));
    }
    return kb;
  };
  wait_until([&] { return rss_kb() >= 64 * 1024; }, kExitWithin);
  CHECK(rss_kb() >= 64 * 1024);
}
