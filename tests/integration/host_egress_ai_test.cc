// Fetch and AiChat through a real plugvisord and sandboxed plugins, against HTTP servers this
// test serves on 127.0.0.1: SSRF refusals, secrets injected by reference and never seen by a
// plugin or stored anywhere, AI retries following the policy, and usage sums.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <mutex>

#include "fake_http_server.h"
#include "host_world.h"
#include "pg_cluster.h"
#include "plugvisor/common/ids.h"

using namespace plugvisor::testsupport;
using Clock = std::chrono::steady_clock;

namespace {

Json op(const std::string& name, Json fields = Json::object()) {
  fields["op"] = name;
  return fields;
}

// An OpenAI-compatible /v1/chat/completions that echoes what it was sent into the answer (the
// Authorization header included, so a leak of the key would show), and reports fixed usage.
FakeHttpServer::Response chat_answer(const FakeHttpServer::Request& req, int prompt,
                                     int completion) {
  Json sent = Json::parse(req.body, nullptr, false);
  Json answer = {{"id", "chatcmpl-test"},
                 {"object", "chat.completion"},
                 {"model", sent.value("model", "none")},
                 {"choices",
                  {{{"index", 0},
                    {"finish_reason", "stop"},
                    {"message",
                     {{"role", "assistant"},
                      {"content", "echo: " + req.body +
                                      " auth: " + req.header("authorization").value_or("")}}}}}},
                 {"usage",
                  {{"prompt_tokens", prompt},
                   {"completion_tokens", completion},
                   {"total_tokens", prompt + completion}}}};
  return {200, {{"content-type", "application/json"}}, answer.dump()};
}

}  // namespace

TEST_CASE("fetch: allowlisted hosts only, no way around it through DNS, redirects or URL tricks") {
  FakeHttpServer web;
  FakeHttpServer other("127.0.0.2");
  web.on("GET", "/ok", FakeHttpServer::reply(200, "hello from the web"));
  web.on("GET", "/to-other", FakeHttpServer::reply(302, "", {{"location", other.url("/x")}}));
  web.on("GET", "/to-ok", FakeHttpServer::reply(302, "", {{"location", "/ok"}}));
  other.on("*", "*", FakeHttpServer::reply(200, "must never be reached"));
  const std::string port = std::to_string(web.port());
  const std::string perms = "      network: [\"http://127.0.0.1:" + port +
                            "\", \"http://localhost:" + port + "\", \"api.example.com\"]\n";
  auto sup = Supervisor::start(host_config({{"alpha", "tool.pre_exec", perms}}),
                               fresh_database(shared_cluster()));
  sup->wait_for_state("alpha", "ready");
  auto r = run_host_ops(
               *sup, "tool.pre_exec",
               {op("fetch", {{"url", web.url("/ok")}}), op("fetch", {{"url", web.url("/to-ok")}}),
                // declared by name, but the name resolves to loopback
                op("fetch", {{"url", "http://localhost:" + port + "/ok"}}),
                op("fetch", {{"url", web.url("/to-other")}}),
                op("fetch", {{"url", "http://user:pw@127.0.0.1:" + port + "/ok"}}),
                op("fetch", {{"url", other.url("/x")}}),
                // 127.0.0.2 spelled as one decimal number: still not declared
                op("fetch", {{"url", "http://2130706434:" + port + "/ok"}}),
                op("fetch", {{"url", "http://169.254.169.254/latest/meta-data/"}}),
                op("fetch", {{"url", "http://api.example.com/"}})})
               .results;
  INFO(r.dump(2));
  CHECK(r[0]["status"] == 200);
  CHECK(r[0]["body"] == "hello from the web");
  CHECK(r[1]["status"] == 200);
  CHECK(r[1]["redirects"] == 1);
  CHECK(r[2]["code"] == "permission_denied");
  CHECK_THAT(r[2]["message"].get<std::string>(), Catch::Contains("127.0.0.1"));
  CHECK(r[3]["code"] == "permission_denied");
  CHECK(r[4]["code"] != "ok");
  CHECK(r[4]["ok"] == false);
  for (int i = 5; i < 9; ++i) CHECK(r[i]["code"] == "permission_denied");
  CHECK(other.request_count() == 0);
  CHECK(sup->plugin("alpha").permission_denied() >= 6);
}

TEST_CASE(
    "a secret in the supervisor's environment never reaches a plugin, a log, a receipt or an "
    "event") {
  const std::string secret = "pv-secret-" + plugvisor::secure_token();
  const std::string ai_key = "pv-aikey-" + plugvisor::secure_token();
  ::setenv("PLUGVISOR_TEST_TOKEN", secret.c_str(), 1);
  ::setenv("PLUGVISOR_TEST_AI_KEY", ai_key.c_str(), 1);
  FakeHttpServer web;
  FakeHttpServer upstream;
  // The web echoes every request header back, in the body and in a header.
  web.on("*", "*", [](const FakeHttpServer::Request& req) {
    std::string all;
    for (const auto& [k, v] : req.headers) all += k + ": " + v + "\n";
    return FakeHttpServer::Response{
        200, {{"x-echo", req.header("authorization").value_or("")}}, all};
  });
  upstream.on("POST", "/v1/chat/completions",
              [](const FakeHttpServer::Request& req) { return chat_answer(req, 7, 5); });
  const std::string top =
      "secrets:\n  TOKEN: {env: PLUGVISOR_TEST_TOKEN}\n"
      "ai: {base_url: \"" +
      upstream.url("/v1") + "\", model: fake-model, api_key_env: PLUGVISOR_TEST_AI_KEY}\n";
  const std::string perms = "      network: [\"http://127.0.0.1:" + std::to_string(web.port()) +
                            "\"]\n      secrets: [TOKEN]\n      ai: {max_retries: 0}\n";
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(
      host_config({{"alpha", "tool.pre_exec", perms}, {"beta", "model.pre_call", ""}}, top), url);
  sup->wait_for_state("alpha", "ready");
  sup->wait_for_state("beta", "ready");

  std::string visible;  // everything any plugin got back
  auto r = run_host_ops(
      *sup, "tool.pre_exec",
      {op("fetch",
          {{"url", web.url("/a")}, {"headers", {{"Authorization", "Bearer {{secret:TOKEN}}"}}}}),
       op("ai", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}}),
       op("put", {{"key", "k"}, {"value", "{{secret:TOKEN}}"}}),
       op("emit", {{"name", "plugin.alpha.done"}, {"payload", "{{secret:TOKEN}}"}})});
  visible += r.response.data_json();
  INFO(r.results.dump(2));
  CHECK(r.results[0]["status"] == 200);
  CHECK(r.results[1]["ok"] == true);
  // The upstreams did get the real values: the references were filled in host-side.
  REQUIRE(web.request_count() == 1);
  CHECK(web.requests()[0].header("authorization") == "Bearer " + secret);
  REQUIRE(upstream.request_count() == 1);
  CHECK(upstream.requests()[0].header("authorization") == "Bearer " + ai_key);
  // What came back was scrubbed.
  CHECK_THAT(r.results[0]["body"].get<std::string>(), Catch::Contains("[secret:TOKEN]"));

  // A plugin without the permission cannot name it.
  auto denied = run_host_ops(
      *sup, "model.pre_call",
      {op("fetch", {{"url", web.url("/b")}, {"headers", {{"Authorization", "{{secret:TOKEN}}"}}}}),
       op("ai", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}})});
  visible += denied.response.data_json();
  CHECK(denied.results[0]["code"] == "permission_denied");
  CHECK(denied.results[1]["code"] == "permission_denied");
  CHECK(web.request_count() == 1);

  CHECK(sup->terminate() == 0);  // flushes receipts and events
  const std::string log = sup->log();
  CHECK(log.find("plugin=alpha") != std::string::npos);  // the plugins' captured output is here
  for (const std::string& value : {secret, ai_key}) {
    CHECK(visible.find(value) == std::string::npos);
    CHECK(log.find(value) == std::string::npos);
    for (const char* table : {"receipts", "events", "plugin_state", "ai_usage", "plugins"}) {
      for (const auto& row : table_rows(url, table)) {
        INFO(table << ": " << row);
        CHECK(row.find(value) == std::string::npos);
      }
    }
  }
  ::unsetenv("PLUGVISOR_TEST_TOKEN");
  ::unsetenv("PLUGVISOR_TEST_AI_KEY");
}

TEST_CASE("AI retries follow the policy, failures name the upstream status, usage sums match") {
  FakeHttpServer upstream;
  std::mutex mu;
  std::vector<Clock::time_point> arrivals;
  int calls = 0;
  upstream.on("POST", "/v1/chat/completions", [&](const FakeHttpServer::Request& req) {
    std::lock_guard lock(mu);
    arrivals.push_back(Clock::now());
    const int n = ++calls;
    // Call 1-2: overloaded; 3: fine. Later calls: fine, except from the "always-down" tenant.
    if (n <= 2)
      return FakeHttpServer::Response{n == 1 ? 429 : 503, {}, R"({"error":{"message":"busy"}})"};
    if (req.body.find("always-down") != std::string::npos) {
      return FakeHttpServer::Response{500, {}, R"({"error":{"message":"upstream exploded"}})"};
    }
    return chat_answer(req, 10 * n, n);
  });
  const std::string top = "ai: {base_url: \"" + upstream.url("/v1") + "\", model: fake-model}\n";
  const std::string perms =
      "      ai: {max_retries: 2, backoff_initial_ms: 200, backoff_max_ms: 1000, timeout_ms: "
      "5000}\n";
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(host_config({{"alpha", "tool.pre_exec", perms}}, top), url);
  sup->wait_for_state("alpha", "ready");
  const std::vector<Json> hello = {
      op("ai", {{"messages", {{{"role", "user"}, {"content", "hello"}}}}})};

  auto first = run_host_ops(*sup, "tool.pre_exec", hello, "tenant-a").results;
  INFO(first.dump(2));
  REQUIRE(first[0]["ok"] == true);
  CHECK(first[0]["attempts"] == 3);
  // The server's thread wrote these under `mu`; the answer's trip through plugvisord and the
  // plugin is a happens-before that TSAN cannot see, so read them under the lock too.
  const auto seen = [&] {
    std::lock_guard lock(mu);
    return std::pair{arrivals, calls};
  };
  const std::vector<Clock::time_point> first_arrivals = seen().first;
  REQUIRE(first_arrivals.size() == 3);
  // Backoff 200 ms, then 400 ms (generous lower bounds only: the machine may be slow, not fast).
  CHECK(first_arrivals[1] - first_arrivals[0] >= std::chrono::milliseconds(180));
  CHECK(first_arrivals[2] - first_arrivals[1] >= std::chrono::milliseconds(360));

  run_host_ops(*sup, "tool.pre_exec", hello, "tenant-b");  // call 4: 40 + 4
  run_host_ops(*sup, "tool.pre_exec", hello, "tenant-b");  // call 5: 50 + 5
  auto down =
      run_host_ops(*sup, "tool.pre_exec",
                   {op("ai", {{"messages", {{{"role", "user"}, {"content", "always-down"}}}}})})
          .results;
  INFO(down.dump(2));
  CHECK(down[0]["code"] == "unavailable");
  CHECK_THAT(down[0]["message"].get<std::string>(), Catch::Contains("500"));
  CHECK_THAT(down[0]["message"].get<std::string>(), Catch::Contains("upstream exploded"));
  CHECK(seen().second == 5 + 3);  // the failing call was tried 1 + max_retries times

  // Usage as the upstream reported it: tenant-a 30+3, tenant-b (40+4) + (50+5).
  plugvisor::admin::v1::UsageRequest req;
  req.add_group_by("plugin");
  req.add_group_by("tenant");
  plugvisor::admin::v1::UsageResponse usage;
  grpc::ClientContext ctx;
  REQUIRE(sup->admin().Usage(&ctx, req, &usage).ok());
  INFO(usage.ShortDebugString());
  REQUIRE(usage.rows_size() == 2);
  CHECK(usage.rows(0).tenant_id() == "tenant-a");
  CHECK(usage.rows(0).calls() == 1);
  CHECK(usage.rows(0).prompt_tokens() == 30);
  CHECK(usage.rows(0).completion_tokens() == 3);
  CHECK(usage.rows(1).tenant_id() == "tenant-b");
  CHECK(usage.rows(1).calls() == 2);
  CHECK(usage.rows(1).total_tokens() == 44 + 55);
  CHECK(usage.total().total_tokens() == 33 + 44 + 55);

  // plugvisorctl usage prints the same sums.
  auto ctl = run_command(build_path("cli/plugvisorctl") + " --address unix:" + sup->dir() +
                         "/api.sock usage --by plugin,tenant");
  INFO(ctl.output);
  CHECK(ctl.exit_code == 0);
  CHECK_THAT(ctl.output, Catch::Contains("tenant-b"));
  CHECK_THAT(ctl.output, Catch::Contains("132"));
}
