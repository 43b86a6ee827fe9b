// AiProxy against a scripted HttpClient and a recording Sleeper: the request it sends, the
// answer it reads, retries and backoff, the deadline, and the API key never leaking.
#include "host/ai/ai_proxy.h"

#include <catch2/catch.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;
using plugvisor::hostcall::Code;
using plugvisor::hostcall::HostResult;
using namespace plugvisor::host;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kKey = "sk-test-7f3a9c1e5b2d4f6a8c0e";

class ScriptedHttp : public HttpClient {
 public:
  HostResult<HttpResponse> perform(const HttpRequest& request) override {
    requests.push_back(request);
    if (on_perform) on_perform();
    if (script.empty()) return plugvisor::hostcall::internal("test script ran out");
    auto next = std::move(script.front());
    script.pop_front();
    return next;
  }
  void answer(long status, std::string body, HeaderList headers = {}) {
    script.emplace_back(HttpResponse{status, std::move(headers), std::move(body)});
  }
  void fail(plugvisor::hostcall::HostError error) { script.emplace_back(std::move(error)); }

  std::deque<HostResult<HttpResponse>> script;
  std::vector<HttpRequest> requests;
  std::function<void()> on_perform;
};

const std::string kAnswer = R"({
  "id": "chatcmpl-1", "model": "gpt-test-0613",
  "choices": [{"index": 0, "finish_reason": "tool_calls",
    "message": {"role": "assistant", "content": null,
      "tool_calls": [{"id": "call_1", "type": "function",
                      "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]}}],
  "usage": {"prompt_tokens": 31, "completion_tokens": 9, "total_tokens": 40}})";

std::string upstream_error(const std::string& message) {
  return json{{"error", {{"message", message}, {"type", "server_error"}}}}.dump();
}

struct Rig {
  ScriptedHttp http;
  SecretVault vault;
  std::vector<milliseconds> sleeps;
  plugvisor::config::AiUpstreamConfig upstream{"https://ai.example/v1/", "upstream-model", "", ""};
  std::string key = kKey;
  plugvisor::config::AiPolicy policy = allowed();

  static plugvisor::config::AiPolicy allowed() {
    plugvisor::config::AiPolicy p;
    p.allowed = true;
    return p;
  }
  AiProxy proxy() {
    return AiProxy(http, vault, upstream, key, [this](milliseconds d) { sleeps.push_back(d); });
  }
  HostResult<ChatResult> chat(const ChatCall& call, Clock::time_point deadline) {
    return proxy().chat(policy, call, deadline);
  }
  HostResult<ChatResult> chat(const ChatCall& call) { return chat(call, Clock::now() + 60s); }
  json sent(size_t i = 0) const { return json::parse(http.requests.at(i).body); }
};

ChatCall hello() {
  ChatCall call;
  call.messages = {{"user", "hello", "", "", ""}};
  return call;
}

}  // namespace

TEST_CASE("a chat is posted upstream and the answer, tool calls and usage are read") {
  Rig rig;
  rig.http.answer(200, kAnswer);
  ChatCall call;
  call.messages = {{"system", "be brief", "", "", ""},
                   {"user", "find x", "alice", "", ""},
                   {"assistant", "", "", "", R"([{"id":"call_0","type":"function"}])"},
                   {"tool", "42", "", "call_0", ""}};
  call.tools_json = R"([{"type":"function","function":{"name":"lookup"}}])";
  call.tool_choice_json = R"("auto")";
  call.max_tokens = 64;
  auto result = rig.chat(call);
  REQUIRE(result.ok());

  CHECK(result->message.role == "assistant");
  CHECK(result->message.content.empty());
  CHECK(json::parse(result->message.tool_calls_json) ==
        json::parse(kAnswer)["choices"][0]["message"]["tool_calls"]);
  CHECK(result->finish_reason == "tool_calls");
  CHECK(result->model == "gpt-test-0613");
  CHECK(result->usage.prompt_tokens == 31);
  CHECK(result->usage.completion_tokens == 9);
  CHECK(result->usage.total_tokens == 40);
  CHECK(result->attempts == 1);
  CHECK(rig.sleeps.empty());

  REQUIRE(rig.http.requests.size() == 1);
  const HttpRequest& req = rig.http.requests[0];
  CHECK(req.method == "POST");
  CHECK(req.url == "https://ai.example/v1/chat/completions");
  CHECK(req.headers ==
        HeaderList{{"content-type", "application/json"}, {"authorization", "Bearer " + kKey}});
  const json body = rig.sent();
  CHECK(body["model"] == "upstream-model");
  CHECK(body["messages"].size() == 4);
  CHECK(body["messages"][1] == json{{"role", "user"}, {"content", "find x"}, {"name", "alice"}});
  CHECK(body["messages"][2]["content"].is_null());
  CHECK(body["messages"][2]["tool_calls"][0]["id"] == "call_0");
  CHECK(body["messages"][3]["tool_call_id"] == "call_0");
  CHECK(body["tools"][0]["function"]["name"] == "lookup");
  CHECK(body["tool_choice"] == "auto");
  CHECK(body["max_tokens"] == 64);
  CHECK_FALSE(body.contains("temperature"));
}

TEST_CASE("a plain text answer, and an answer without usage") {
  Rig rig;
  rig.http.answer(200, R"({"choices":[{"message":{"role":"assistant","content":"hi"},
                                       "finish_reason":"stop"}]})");
  auto result = rig.chat(hello());
  REQUIRE(result.ok());
  CHECK(result->message.content == "hi");
  CHECK(result->message.tool_calls_json.empty());
  CHECK(result->finish_reason == "stop");
  CHECK(result->usage.total_tokens == 0);
}

TEST_CASE("model and temperature: the call's, else the policy's, else the upstream's or none") {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.http.answer(200, kAnswer);
  ChatCall call = hello();

  rig.policy.model = "policy-model";
  rig.policy.temperature = 0.2;
  REQUIRE(rig.chat(call).ok());
  CHECK(rig.sent(0)["model"] == "policy-model");
  CHECK(rig.sent(0)["temperature"] == 0.2);

  call.temperature = 0.9;
  REQUIRE(rig.chat(call).ok());
  CHECK(rig.sent(1)["temperature"] == 0.9);

  rig.policy.model.clear();
  rig.policy.temperature.reset();
  call.temperature.reset();
  REQUIRE(rig.chat(call).ok());
  CHECK(rig.sent(2)["model"] == "upstream-model");
  CHECK_FALSE(rig.sent(2).contains("temperature"));
  CHECK_FALSE(rig.sent(2).contains("max_tokens"));

  rig.upstream.model.clear();
  rig.key.clear();
  REQUIRE(rig.chat(call).ok());
  CHECK_FALSE(rig.sent(3).contains("model"));
  CHECK(rig.http.requests[3].headers == HeaderList{{"content-type", "application/json"}});
}

TEST_CASE("no upstream, or a policy that does not allow the proxy, refuses without a request") {
  Rig rig;
  rig.policy.allowed = false;
  auto denied = rig.chat(hello());
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().code == Code::permission_denied);
  CHECK(denied.error().permission == "ai");
  CHECK(denied.error().target == "chat");

  rig.upstream.base_url.clear();
  auto unconfigured = rig.chat(hello());
  REQUIRE_FALSE(unconfigured.ok());
  CHECK(unconfigured.error().code == Code::unavailable);
  CHECK(unconfigured.error().message == "no AI upstream is configured (ai.base_url)");
  CHECK(rig.http.requests.empty());
}

TEST_CASE("malformed calls are invalid_argument naming what is wrong") {
  auto check = [](ChatCall call, const std::string& expected) {
    Rig rig;
    auto result = rig.chat(call);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Code::invalid_argument);
    CHECK_THAT(result.error().message, Catch::Contains(expected));
    CHECK(rig.http.requests.empty());
  };
  check(ChatCall{}, "at least one message");
  ChatCall call = hello();
  call.messages.push_back({"robot", "x", "", "", ""});
  check(call, "messages[1]: role \"robot\"");
  call.messages[1] = {"tool", "42", "", "", ""};
  check(call, "messages[1]: a tool message needs tool_call_id");
  call.messages[1] = {"assistant", "", "", "", "{not json"};
  check(call, "messages[1]: tool_calls_json");
  call = hello();
  call.tools_json = "[{";
  check(call, "tools_json");
  call.tools_json = std::string(1000, '[') + std::string(1000, ']');  // would overflow dump()
  check(call, "tools_json");
  call = hello();
  call.tool_choice_json = "auto";  // not JSON: a string needs quotes
  check(call, "tool_choice_json");
}

TEST_CASE("a request over max_input_bytes is resource_exhausted naming size and limit") {
  Rig rig;
  rig.policy.max_input_bytes = 1000;
  ChatCall call = hello();
  call.messages[0].content = std::string(2000, 'x');
  auto result = rig.chat(call);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Code::resource_exhausted);
  CHECK_THAT(result.error().message, Catch::Contains("limit of 1000"));
  CHECK_THAT(result.error().message, Catch::Matches(".* is 20[0-9]{2} bytes .*"));
  CHECK(rig.http.requests.empty());
}

TEST_CASE("429, 5xx and transport errors are retried max_retries times with capped backoff") {
  using plugvisor::hostcall::deadline;
  using plugvisor::hostcall::unavailable;
  const int kind = GENERATE(429, 500, 503, 0, -1);
  Rig rig;
  rig.policy.max_retries = 4;
  rig.policy.backoff_max = 1000ms;
  for (int i = 0; i < 6; ++i) {
    if (kind == 0)
      rig.http.fail(unavailable("connect: connection refused"));
    else if (kind == -1)
      rig.http.fail(deadline("operation timed out"));
    else
      rig.http.answer(kind, upstream_error("busy " + std::to_string(i)));
  }
  auto result = rig.chat(hello());
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Code::unavailable);
  CHECK(rig.http.requests.size() == 5);
  CHECK(rig.sleeps == std::vector<milliseconds>{250ms, 500ms, 1000ms, 1000ms});
  if (kind > 0) {
    CHECK(result.error().message ==
          "AI upstream answered " + std::to_string(kind) + " after 5 attempts: busy 4");
  } else {
    CHECK_THAT(result.error().message,
               Catch::StartsWith("AI upstream unreachable after 5 attempts: "));
  }
}

TEST_CASE("a retry that succeeds reports its attempts; max_retries 0 makes one attempt") {
  Rig rig;
  rig.http.answer(503, "<html>Service Unavailable</html>");
  rig.http.fail(plugvisor::hostcall::unavailable("connection reset"));
  rig.http.answer(200, kAnswer);
  auto result = rig.chat(hello());
  REQUIRE(result.ok());
  CHECK(result->attempts == 3);
  CHECK(rig.sleeps == std::vector<milliseconds>{250ms, 500ms});

  Rig once;
  once.policy.max_retries = 0;
  once.http.answer(503, "<html>Service Unavailable</html>");
  auto failed = once.chat(hello());
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message ==
        "AI upstream answered 503 after 1 attempt: <html>Service Unavailable</html>");
  CHECK(once.sleeps.empty());
}

TEST_CASE("Retry-After in seconds is honoured up to backoff_max; a date falls back to backoff") {
  Rig rig;
  rig.policy.max_retries = 3;
  rig.http.answer(429, upstream_error("slow down"), {{"retry-after", "2"}});
  rig.http.answer(503, upstream_error("down"), {{"retry-after", "3600"}});
  rig.http.answer(429, "", {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}});
  rig.http.answer(200, kAnswer);
  auto result = rig.chat(hello());
  REQUIRE(result.ok());
  CHECK(result->attempts == 4);
  CHECK(rig.sleeps == std::vector<milliseconds>{2000ms, 4000ms, 1000ms});
}

TEST_CASE("other 4xx are not retried: 400/422 invalid_argument, the rest unavailable") {
  const long status = GENERATE(400L, 422L, 401L, 403L, 404L);
  Rig rig;
  rig.http.answer(status, upstream_error("nope"));
  auto result = rig.chat(hello());
  REQUIRE_FALSE(result.ok());
  CHECK(rig.http.requests.size() == 1);
  CHECK(rig.sleeps.empty());
  const std::string code = std::to_string(status);
  if (status == 400 || status == 422) {
    CHECK(result.error().code == Code::invalid_argument);
    CHECK(result.error().message == "AI upstream rejected the request: " + code + ": nope");
  } else {
    CHECK(result.error().code == Code::unavailable);
    CHECK(result.error().message == "AI upstream refused the request: " + code + ": nope");
  }
}

TEST_CASE("an unreadable success answer is unavailable; a long error body is cut to 200 bytes") {
  const std::string body = GENERATE(std::string("not json"), std::string("{}"),
                                    std::string(R"({"choices":[{"message":{"content":[1]}}]})"));
  Rig rig;
  rig.http.answer(200, body);
  auto result = rig.chat(hello());
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Code::unavailable);
  CHECK_THAT(result.error().message, Catch::StartsWith("AI upstream sent an unreadable answer: "));
  CHECK(rig.http.requests.size() == 1);

  Rig cut;
  cut.http.answer(404, std::string(5000, 'e'));
  auto refused = cut.chat(hello());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message ==
        "AI upstream refused the request: 404: " + std::string(200, 'e') + "...");
}

TEST_CASE("the deadline bounds every attempt and every wait") {
  SECTION("passed before the call: no attempt") {
    Rig rig;
    auto result = rig.chat(hello(), Clock::now() - 1ms);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Code::deadline_exceeded);
    CHECK(rig.http.requests.empty());
  }
  SECTION("an attempt's timeout is the policy's or the time left, whichever is shorter") {
    Rig rig;
    rig.http.answer(200, kAnswer);
    rig.http.answer(200, kAnswer);
    REQUIRE(rig.chat(hello(), Clock::now() + 5s).ok());
    CHECK(rig.http.requests[0].timeout <= 5000ms);
    CHECK(rig.http.requests[0].timeout > 3000ms);
    rig.policy.timeout = 1500ms;
    REQUIRE(rig.chat(hello(), Clock::now() + 60s).ok());
    CHECK(rig.http.requests[1].timeout == 1500ms);
  }
  SECTION("no wait that would end past the deadline") {
    Rig rig;
    rig.policy.max_retries = 5;
    rig.policy.backoff_initial = 500ms;
    for (int i = 0; i < 6; ++i) rig.http.answer(503, upstream_error("overloaded"));
    // This Sleeper really sleeps, so the clock the proxy reads moves as it would.
    AiProxy proxy(rig.http, rig.vault, rig.upstream, rig.key, [&](milliseconds d) {
      rig.sleeps.push_back(d);
      std::this_thread::sleep_for(d);
    });
    auto result = proxy.chat(rig.policy, hello(), Clock::now() + 3s);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Code::deadline_exceeded);
    CHECK_THAT(result.error().message, Catch::Contains("after 3 attempts"));
    CHECK_THAT(result.error().message, Catch::Contains("answered 503: overloaded"));
    CHECK(rig.sleeps == std::vector<milliseconds>{500ms, 1000ms});
  }
  SECTION("a transport timeout at the deadline is deadline_exceeded, not retried") {
    Rig rig;
    const auto deadline = Clock::now() + 100ms;
    rig.http.on_perform = [&] { std::this_thread::sleep_until(deadline + 10ms); };
    rig.http.fail(plugvisor::hostcall::deadline("operation timed out"));
    auto result = rig.chat(hello(), deadline);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Code::deadline_exceeded);
    CHECK_THAT(result.error().message, Catch::Contains("after 1 attempt;"));
    CHECK(rig.http.requests.size() == 1);
    CHECK(rig.sleeps.empty());
  }
}

TEST_CASE("the API key and the vault's secrets never reach an error message") {
  const bool vault_knows_key = GENERATE(false, true);
  Rig rig;
  rig.policy.max_retries = 1;
  if (vault_knows_key) rig.vault.add_hidden("ai_api_key", kKey);
  rig.vault.add_hidden("db_password", "hunter2-very-secret");
  const std::string echo = "Incorrect API key provided: " + kKey + " (hunter2-very-secret)";

  std::vector<std::string> messages;
  auto run = [&](auto&& script) {
    rig.http.script.clear();
    script();
    auto result = rig.chat(hello());
    REQUIRE_FALSE(result.ok());
    messages.push_back(result.error().message);
  };
  run([&] { rig.http.answer(401, upstream_error(echo)); });
  run([&] { rig.http.answer(400, json{{"error", echo}}.dump()); });
  // The key straddles the 200-byte cut: scrubbing after cutting would leave its prefix.
  run([&] {
    rig.http.answer(503, echo);
    rig.http.answer(502, std::string(190, 'x') + kKey);
  });
  run([&] {
    rig.http.fail(plugvisor::hostcall::unavailable(echo));
    rig.http.fail(plugvisor::hostcall::unavailable(echo));
  });
  run([&] { rig.http.fail(plugvisor::hostcall::internal(echo)); });
  run([&] { rig.http.answer(200, "garbage " + echo); });
  for (const std::string& message : messages) {
    INFO(message);
    CHECK(message.find(kKey) == std::string::npos);
    CHECK(message.find(kKey.substr(0, 10)) == std::string::npos);
    CHECK(message.find("hunter2") == std::string::npos);
    CHECK(message.find("[secret:") != std::string::npos);
  }
}
