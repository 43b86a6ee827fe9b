// In-process pieces of the SDK: logger format, context, lifecycle, deadline conversion,
// registration rules and the test harness's judgement.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "lifecycle.h"
#include "plugvisor/sdk/testing.h"
#include "service.h"

namespace sdk = plugvisor::sdk;
using sdk::Json;
using namespace std::chrono_literals;

namespace {

// Everything the code under test writes to stderr, one string per line.
template <typename F>
std::vector<std::string> stderr_lines(F&& body) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  ::close(fds[1]);
  body();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  std::vector<std::string> lines;
  for (size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  return lines;
}

}  // namespace

TEST_CASE("Logger writes one JSON object per line with fixed keys", "[sdk][logger]") {
  auto lines = stderr_lines([] {
    sdk::Logger("inv-7").info("hello", {{"n", 1}, {"level", "spoofed"}});
    sdk::Logger().error("multi\nline", {{"bad_utf8", std::string("\xff")}});
    sdk::Logger().debug("plain", Json::array({1, 2}));
  });
  REQUIRE(lines.size() == 3);
  auto first = Json::parse(lines[0]);
  CHECK(first == Json{{"level", "info"}, {"msg", "hello"}, {"invocation_id", "inv-7"}, {"n", 1}});
  auto second = Json::parse(lines[1]);
  CHECK(second["msg"] == "multi\nline");  // escaped: still one line
  CHECK_FALSE(second.contains("invocation_id"));
  CHECK(Json::parse(lines[2])["fields"] == Json::array({1, 2}));
}

TEST_CASE("Context reports remaining time and cancellation", "[sdk][context]") {
  bool caller_gone = false;
  // A far deadline: a descheduled test thread must not see it pass between these lines.
  sdk::Context ctx({"tool.pre_exec", "inv", "dsp", "t", "w", "r", {}},
                   std::chrono::steady_clock::now() + 60s, [&] { return caller_gone; });
  CHECK(ctx.remaining() > 30s);
  CHECK_FALSE(ctx.cancelled());
  caller_gone = true;
  CHECK(ctx.cancelled());
  CHECK(ctx.settings() == Json::object());
  CHECK(ctx.tenant_id() == "t");

  sdk::Context late({}, std::chrono::steady_clock::now() - 1ms);
  CHECK(late.cancelled());
  CHECK(late.remaining() == 0ms);
}

TEST_CASE("handler_deadline moves the gRPC deadline to the steady clock", "[sdk][deadline]") {
  using sdk::detail::handler_deadline;
  const auto sys = std::chrono::system_clock::now();
  const auto steady = std::chrono::steady_clock::now();
  CHECK(handler_deadline(sys + 1500ms, 0, sys, steady) == steady + 1500ms);
  CHECK(handler_deadline(sys + 1500ms, 200, sys, steady) == steady + 200ms);
  CHECK(handler_deadline(std::chrono::system_clock::time_point::max(), 0, sys, steady) ==
        std::chrono::steady_clock::time_point::max());
  CHECK(handler_deadline(std::chrono::system_clock::time_point::max(), 50, sys, steady) ==
        steady + 50ms);
}

TEST_CASE("Lifecycle admits until stop, tracks in-flight ids and drains", "[sdk][lifecycle]") {
  sdk::detail::Lifecycle lc;
  auto a = lc.admit("a");
  auto b = lc.admit("a");  // duplicate ids are counted separately
  REQUIRE(a);
  REQUIRE(b);
  CHECK(lc.in_flight() == std::vector<std::string>{"a", "a"});
  lc.request_stop(2s, "test");
  CHECK_FALSE(lc.admit("c"));
  std::thread release([&] {
    std::this_thread::sleep_for(50ms);
    a.reset();
    b.reset();
  });
  CHECK(lc.drain());
  release.join();
  CHECK(lc.wait_for_stop().why == "test");

  sdk::detail::Lifecycle stuck;
  auto held = stuck.admit("x");
  stuck.request_stop(60s, "first");
  stuck.request_stop(30ms, "hang-up shortens the grace");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(stuck.drain());
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);  // the shortened grace, not the first
  CHECK(stuck.stop_deadline() < t0 + 10s);
}

TEST_CASE("Lifecycle counts open gRPC calls until their answers are sent", "[sdk][lifecycle]") {
  sdk::detail::Lifecycle lc;
  CHECK(lc.stop_deadline() == std::chrono::steady_clock::time_point::max());
  CHECK(lc.wait_calls_finished(std::chrono::steady_clock::now()));
  lc.call_started();
  lc.call_started();
  CHECK_FALSE(lc.wait_calls_finished(std::chrono::steady_clock::now() + 20ms));
  // Only a stop makes the last answer wake the waiter (run() waits only then); without it this
  // wait used to sit out its whole minute.
  lc.request_stop(1s, "test");
  lc.call_finished();
  std::thread answer([&] { lc.call_finished(); });
  CHECK(lc.wait_calls_finished(std::chrono::steady_clock::now() + 60s));
  answer.join();

  // An invocation that ends before the stop leaves nothing to read; one drained by it does.
  sdk::detail::Lifecycle drained;
  drained.admit("before").reset();
  auto during = drained.admit("during");
  drained.request_stop(1s, "test");
  CHECK_FALSE(drained.answered_while_stopping());
  during.reset();
  CHECK(drained.answered_while_stopping());
}

TEST_CASE("Plugin registration rejects mistakes early", "[sdk][plugin]") {
  sdk::Plugin p("p", "1");
  auto ok = [](sdk::Context&, const Json&) { return sdk::Result::proceed(); };
  p.on("tool.pre_exec", ok, {.priority = 3, .fail_policy = sdk::FailPolicy::fail_closed});
  CHECK_THROWS_AS(p.on("tool.pre_exec", ok), std::logic_error);
  CHECK_THROWS_AS(p.on("", ok), std::invalid_argument);
  CHECK_THROWS_AS(p.on("x", sdk::Handler{}), std::invalid_argument);
  CHECK_THROWS_AS(sdk::Plugin("", "1"), std::invalid_argument);
  REQUIRE(p.find("tool.pre_exec") != nullptr);
  CHECK(p.find("tool.pre_exec")->options.priority == 3);
  CHECK(p.find("nope") == nullptr);
}

TEST_CASE("Harness applies the supervisor's catalog rules", "[sdk][harness]") {
  sdk::Plugin p("p", "1");
  Json seen_settings;
  p.on_configure([&](const Json& s) { seen_settings = s; });
  p.on("response.pre_deliver", [](sdk::Context& ctx, const Json& data) {
    if (data.contains("throw")) throw std::runtime_error("boom");
    if (data.contains("block")) return sdk::Result::block("stop");
    if (data.contains("fail")) return sdk::Result::fail("nope");
    if (data.contains("sleep")) std::this_thread::sleep_for(30ms);
    if (data.contains("forbidden")) return sdk::Result::patch({{"content", "x"}, {"user", "y"}});
    return sdk::Result::patch({{"content", ctx.settings().value("prefix", "") + "ok"}});
  });
  p.on("tool.post_exec", [](sdk::Context&, const Json&) { return sdk::Result::block("no"); });
  p.on("custom.hook", [](sdk::Context&, const Json&) { return sdk::Result::patch({{"a", 1}}); });

  sdk::testing::Harness h(p, {{"prefix", ">"}});
  CHECK(seen_settings == Json{{"prefix", ">"}});

  auto ok = h.invoke("response.pre_deliver", {{"content", "hi"}, {"user", "u"}});
  CHECK(ok.data == Json{{"content", ">ok"}, {"user", "u"}});
  CHECK_FALSE(ok.invalid_output);

  auto bad = h.invoke("response.pre_deliver", {{"forbidden", 1}, {"user", "u"}});
  CHECK(bad.forbidden_paths == std::vector<std::string>{"/user"});
  REQUIRE(bad.invalid_output);
  CHECK(bad.data == Json{{"forbidden", 1}, {"user", "u"}});  // rejected whole

  auto blocked = h.invoke("response.pre_deliver", {{"block", true}});
  CHECK(blocked.blocked);
  CHECK(blocked.reason == "stop");
  CHECK_FALSE(blocked.invalid_output);
  CHECK(h.invoke("tool.post_exec", Json::object()).invalid_output ==
        std::optional<std::string>("hook tool.post_exec cannot be blocked"));

  CHECK(h.invoke("response.pre_deliver", {{"throw", 1}}).failure ==
        std::optional<std::string>("handler threw: boom"));
  CHECK(h.invoke("response.pre_deliver", {{"fail", 1}}).failure ==
        std::optional<std::string>("nope"));

  sdk::testing::Invocation quick;
  quick.timeout = 5ms;
  CHECK(h.invoke("response.pre_deliver", {{"sleep", 1}}, quick).timed_out);

  CHECK_THROWS_AS(h.invoke("model.pre_call", Json::object()), std::invalid_argument);
  CHECK_THROWS_AS(h.invoke("response.pre_deliver", Json::array()), std::invalid_argument);
  CHECK_THROWS_WITH(h.invoke("custom.hook", Json::object()), Catch::Contains("set_rules"));
  h.set_rules("custom.hook", {.blockable = false, .mutable_paths = {"/a"}});
  CHECK(h.invoke("custom.hook", Json::object()).data == Json{{"a", 1}});
}
