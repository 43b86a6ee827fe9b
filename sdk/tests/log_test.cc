// The Logger's two paths, in-process: LogSender (the fd-4 client's queue) against a scripted
// Log call, the Logger against hosts that take, refuse, throw or log back into it, and what the
// test harness shows a plugin author.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "log_sender.h"
#include "plugvisor/sdk/testing.h"

using namespace std::chrono_literals;
namespace sdk = plugvisor::sdk;
using plugvisor::sdk::detail::LogSender;
using sdk::Json;
using Clock = std::chrono::steady_clock;
namespace hv1 = ::plugvisor::host::v1;

namespace {

template <typename Pred>
bool wait_until(Pred&& condition, std::chrono::milliseconds timeout = 10s) {
  const auto until = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A scripted host.v1 Log: answers `answer`, and holds each call while the gate is closed (or
// until the call's deadline, as a stuck supervisor would).
class ScriptedLog {
 public:
  LogSender::Send send() {
    return [this](const hv1::LogRequest& req, std::chrono::system_clock::time_point deadline) {
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline, [&] { return open_; })) {
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "held");
      }
      if (answer_.ok()) got_.push_back(req);
      return answer_;
    };
  }
  LogSender::Fallback fallback() {
    return [this](const sdk::LogRecord& r) {
      std::lock_guard lock(mu_);
      fell_back_.push_back(r.message);
    };
  }
  void close_gate() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void answer(grpc::Status status) {
    std::lock_guard lock(mu_);
    answer_ = std::move(status);
  }
  std::vector<hv1::LogRequest> got() {
    std::lock_guard lock(mu_);
    return got_;
  }
  std::vector<std::string> fell_back() {
    std::lock_guard lock(mu_);
    return fell_back_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  grpc::Status answer_ = grpc::Status::OK;
  std::vector<hv1::LogRequest> got_;
  std::vector<std::string> fell_back_;
};

sdk::LogRecord record(std::string message, Json fields = Json::object()) {
  return {"info", std::move(message), std::move(fields), "inv-1"};
}

sdk::HostCall for_token(std::string token) { return {std::move(token), Clock::now() + 60s}; }

// Redirects this process's stderr into a pipe until take().
class CaptureStderr {
 public:
  CaptureStderr() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_ = fds[0];
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[1]);
  }
  ~CaptureStderr() { take(); }
  std::string take() {
    if (saved_ < 0) return text_;
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
    char buf[4096];
    for (ssize_t n; (n = ::read(read_, buf, sizeof buf)) > 0;) text_.append(buf, n);
    ::close(read_);
    return text_;
  }

 private:
  int read_ = -1;
  int saved_ = -1;
  std::string text_;
};

// A host that only logs, in the way a test tells it to.
class LoggingHost final : public sdk::HostApi {
 public:
  enum class Mode { take, refuse, exception, recurse };
  explicit LoggingHost(Mode mode) : mode_(mode) {}
  std::weak_ptr<LoggingHost> self;
  int calls = 0;

  sdk::HostResult<void> log(const sdk::HostCall& call, sdk::LogRecord r) override {
    ++calls;
    if (mode_ == Mode::refuse) return sdk::HostError{sdk::HostCode::unavailable, "no"};
    if (mode_ == Mode::exception) throw std::runtime_error("host blew up");
    if (mode_ == Mode::recurse) sdk::Logger(self.lock(), call).error("host: " + r.message);
    return {};
  }

  sdk::HostResult<std::optional<sdk::StateEntry>> state_get(const sdk::HostCall&,
                                                            const std::string&) override {
    return no();
  }
  sdk::HostResult<sdk::StateEntry> state_put(const sdk::HostCall&, const std::string&,
                                             const std::string&, const sdk::PutOptions&) override {
    return no();
  }
  sdk::HostResult<bool> state_erase(const sdk::HostCall&, const std::string&,
                                    std::optional<int64_t>) override {
    return no();
  }
  sdk::HostResult<sdk::StatePage> state_list(const sdk::HostCall&, const std::string&,
                                             const sdk::ListOptions&) override {
    return no();
  }
  sdk::HostResult<sdk::FetchResponse> fetch(const sdk::HostCall&,
                                            const sdk::FetchRequest&) override {
    return no();
  }
  sdk::HostResult<sdk::ChatResponse> ai_chat(const sdk::HostCall&,
                                             const sdk::ChatRequest&) override {
    return no();
  }
  sdk::HostResult<std::string> emit(const sdk::HostCall&, const std::string&,
                                    const Json&) override {
    return no();
  }

 private:
  static sdk::HostError no() { return {sdk::HostCode::unavailable, "logs only"}; }
  Mode mode_;
};

std::vector<Json> json_lines(const std::string& text) {
  std::vector<Json> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    out.push_back(Json::parse(text.substr(at, end - at), nullptr, false));
    at = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("LogSender sends records in order, with their token, fields as strings", "[log]") {
  ScriptedLog host;
  LogSender sender(host.send(), host.fallback(), {});
  REQUIRE(sender.log(for_token("t1"), record("one", {{"n", 1}, {"s", "x"}, {"o", {{"a", 1}}}})));
  REQUIRE(sender.log(for_token(""), record("two", Json::array({1, 2}))));
  REQUIRE(sender.log(for_token("t1"), record("three")));
  REQUIRE(wait_until([&] { return sender.sent() == 3; }));
  const auto got = host.got();
  REQUIRE(got.size() == 3);
  CHECK(got[0].message() == "one");
  CHECK(got[0].invocation_token() == "t1");
  CHECK(got[0].invocation_id() == "inv-1");
  CHECK(got[0].level() == "info");
  CHECK(got[0].fields().at("n") == "1");
  CHECK(got[0].fields().at("s") == "x");
  CHECK(got[0].fields().at("o") == R"({"a":1})");
  CHECK(got[1].invocation_token().empty());
  CHECK(got[1].fields().at("fields") == "[1,2]");
  CHECK(got[2].message() == "three");
  CHECK(host.fell_back().empty());
}

TEST_CASE("LogSender drops records past its queue's bound, counts them and says so", "[log]") {
  ScriptedLog host;
  host.close_gate();
  LogSender sender(host.send(), host.fallback(), {.max_queued = 2, .call_timeout = 10s});
  REQUIRE(sender.log(for_token(""), record("r1")));
  std::this_thread::sleep_for(20ms);  // r1 is on the wire (held), the queue is empty again
  for (const char* m : {"r2", "r3", "r4", "r5"}) CHECK(sender.log(for_token(""), record(m)));
  CHECK(sender.dropped() == 2);
  host.open_gate();
  REQUIRE(wait_until([&] { return sender.sent() == 4; }));
  const auto got = host.got();
  REQUIRE(got.size() == 4);
  CHECK(got[0].message() == "r1");
  CHECK(got[1].level() == "warn");
  CHECK_THAT(got[1].message(), Catch::Contains("dropped 2 log records"));
  CHECK(got[1].fields().at("dropped") == "2");
  CHECK(got[2].message() == "r2");
  CHECK(got[3].message() == "r3");
  CHECK(host.fell_back().empty());
}

TEST_CASE("LogSender: a failed Log goes to stderr; a dead host is skipped for a while", "[log]") {
  ScriptedLog host;
  LogSender sender(host.send(), host.fallback(), {.degraded_for = 100ms});

  host.answer(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "stale token"));
  REQUIRE(sender.log(for_token("t1"), record("refused")));
  REQUIRE(wait_until([&] { return sender.fell_back() == 1; }));
  // A refusal of one record says nothing about the host: the next is sent.
  host.answer(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "rate limit"));
  REQUIRE(sender.log(for_token(""), record("over the limit")));
  REQUIRE(wait_until([&] { return sender.dropped() == 1; }));
  CHECK(sender.fell_back() == 1);  // the supervisor counted it; no second copy on stderr

  host.answer(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone"));
  REQUIRE(sender.log(for_token(""), record("lost host")));
  REQUIRE(wait_until([&] { return sender.fell_back() == 2; }));
  // Degraded: refused at once, so the Logger writes stderr without queueing behind a dead host.
  CHECK_FALSE(sender.log(for_token(""), record("while degraded")));
  host.answer(grpc::Status::OK);
  REQUIRE(
      wait_until([&] { return static_cast<bool>(sender.log(for_token(""), record("back"))); }, 5s));
  REQUIRE(wait_until([&] { return sender.sent() == 1; }));
  CHECK(host.fell_back() == std::vector<std::string>{"refused", "lost host"});
  CHECK(host.got().at(0).message() == "back");
}

TEST_CASE("records of an invocation past its deadline still go out, with its token", "[log]") {
  // The supervisor takes Log with a finished invocation's token for a while
  // (host/invocations.h), so nothing waits for an invocation's records or throws them away.
  ScriptedLog host;
  LogSender sender(host.send(), host.fallback(), {});
  REQUIRE(sender.log({"t1", Clock::now() - 1ms}, record("late")));
  REQUIRE(sender.log({"", Clock::now() - 1ms}, record("own behalf")));
  REQUIRE(wait_until([&] { return sender.sent() == 2; }));
  CHECK(host.got().at(0).message() == "late");
  CHECK(host.got().at(0).invocation_token() == "t1");
  CHECK(host.fell_back().empty());
}

TEST_CASE("LogSender's destructor gives the queue a moment, then writes the rest to stderr",
          "[log]") {
  ScriptedLog host;
  host.close_gate();
  {
    LogSender sender(host.send(), host.fallback(), {.call_timeout = 100ms, .close_drain = 30ms});
    for (const char* m : {"a", "b", "c"}) REQUIRE(sender.log(for_token(""), record(m)));
  }
  auto fell = host.fell_back();
  std::sort(fell.begin(), fell.end());
  CHECK(fell == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("Logger: no host, a refusing or throwing host, and a host that logs back", "[log]") {
  using Mode = LoggingHost::Mode;
  SECTION("no host: one JSON line on stderr, the SDK's keys winning over fields") {
    CaptureStderr err;
    sdk::Logger("inv-3").warn("hello", {{"level", "forged"}, {"n", 2}});
    const auto lines = json_lines(err.take());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] ==
          Json{{"level", "warn"}, {"msg", "hello"}, {"invocation_id", "inv-3"}, {"n", 2}});
  }
  SECTION("a host that takes it: nothing on stderr") {
    auto host = std::make_shared<LoggingHost>(Mode::take);
    CaptureStderr err;
    sdk::Logger(host, {}).info("to the host");
    CHECK(err.take().empty());
    CHECK(host->calls == 1);
  }
  for (auto mode : {Mode::refuse, Mode::exception}) {
    DYNAMIC_SECTION("a host that " << (mode == Mode::refuse ? "refuses" : "throws")) {
      auto host = std::make_shared<LoggingHost>(mode);
      CaptureStderr err;
      sdk::Logger(host, {}, "inv-4").info("kept");
      const auto lines = json_lines(err.take());
      REQUIRE(lines.size() == 1);
      CHECK(lines[0]["msg"] == "kept");
      CHECK(lines[0]["invocation_id"] == "inv-4");
    }
  }
  SECTION("a host that logs through a Logger: its line goes to stderr, not back into it") {
    auto host = std::make_shared<LoggingHost>(Mode::recurse);
    host->self = host;
    CaptureStderr err;
    sdk::Logger(host, {}).info("outer");
    const auto lines = json_lines(err.take());
    CHECK(host->calls == 1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["msg"] == "host: outer");
  }
}

TEST_CASE("the harness shows what a handler logged, tied to its invocation", "[log][harness]") {
  sdk::Plugin plugin("logger", "1.0.0");
  plugin.on_configure([&plugin](const Json&) { plugin.log().info("configured"); });
  plugin.on("message.enrich", [](sdk::Context& ctx, const Json& data) {
    ctx.log().info("enriching", {{"chars", data.value("text", "").size()}});
    ctx.log().warn("slow lookup");
    return sdk::Result::proceed();
  });
  CaptureStderr err;
  sdk::testing::Harness h(plugin);
  const auto out = h.invoke("message.enrich", {{"text", "hello"}}, {.tenant_id = "acme"});
  const auto again = h.invoke("message.enrich", {{"text", "hi"}});
  const auto echoed = json_lines(err.take());

  REQUIRE(out.logs.size() == 2);
  CHECK(out.logs[0].message == "enriching");
  CHECK(out.logs[0].level == "info");
  CHECK(out.logs[0].fields == Json{{"chars", 5}});
  CHECK(out.logs[0].plugin_id == "logger");
  CHECK(out.logs[0].tenant_id == "acme");
  CHECK_FALSE(out.logs[0].invocation_id.empty());
  CHECK(out.logs[1].level == "warn");
  REQUIRE(again.logs.size() == 2);  // only its own invocation's
  CHECK(again.logs[0].fields == Json{{"chars", 2}});
  CHECK(again.logs[0].invocation_id != out.logs[0].invocation_id);

  const auto all = h.host().logs();
  REQUIRE(all.size() == 5);
  CHECK(all[0].message == "configured");
  CHECK(all[0].invocation_id.empty());
  // Each is also on stderr, as the plugin's JSON line, for the test's output.
  REQUIRE(echoed.size() == 5);
  CHECK(echoed[1]["msg"] == "enriching");
  CHECK(echoed[1]["invocation_id"] == out.logs[0].invocation_id);
  h.host().clear_records();
  CHECK(h.host().logs().empty());
}
