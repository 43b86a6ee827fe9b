// Host services through the test harness's FakeHost: the supervisor's checks (network rules,
// secrets, event namespace, quotas, compare-and-set, tenant scoping, invocation tokens), and
// the gRPC client's pure parts (deadline, status mapping).
#include <catch2/catch.hpp>

#include "host_client.h"
#include "plugvisor/sdk/testing.h"

namespace sdk = plugvisor::sdk;
using sdk::HostCode;
using sdk::Json;
using sdk::testing::FakeHost;
using sdk::testing::Harness;
using namespace std::chrono_literals;

namespace {

// A plugin whose one handler runs `body`; the hook is declared so any patch is allowed.
struct Probe {
  explicit Probe(std::function<void(sdk::Context&)> body, std::string id = "probe")
      : plugin(std::move(id), "1.0.0") {
    plugin.on("custom.probe", [body = std::move(body)](sdk::Context& ctx, const Json&) {
      body(ctx);
      return sdk::Result::proceed();
    });
  }
  sdk::Plugin plugin;
};

sdk::testing::Outcome run(Harness& h, const std::string& tenant = "tenant-a") {
  h.set_rules("custom.probe", {});
  sdk::testing::Invocation inv;
  inv.tenant_id = tenant;
  return h.invoke("custom.probe", Json::object(), inv);
}

}  // namespace

TEST_CASE("Fetch is allowed by the network rules only, and denials are recorded", "[sdk][host]") {
  std::vector<sdk::HostResult<sdk::FetchResponse>> got;
  std::vector<std::string> urls = {"https://api.example.com/v1?q=1", "https://evil.example.net/",
                                   "https://a.b.example.org/x",      "https://example.org/",
                                   "http://api.example.com/",        "http://127.0.0.1:8080/local",
                                   "http://127.0.0.1:9090/other",    "ftp://api.example.com/"};
  Probe p([&](sdk::Context& ctx) {
    for (const auto& url : urls) got.push_back(ctx.fetch({.url = url}));
  });
  FakeHost host;
  host.allow_network("api.example.com")
      .allow_network("*.example.org")
      .allow_network("http://127.0.0.1:8080")
      .on_fetch("https://api.example.com/v1?q=1", {.status = 200, .body = "hello"})
      .on_fetch([](const sdk::FetchRequest& r) -> sdk::HostResult<sdk::FetchResponse> {
        return sdk::FetchResponse{.status = 204, .body = r.url};
      });
  Harness h(p.plugin, {}, host);
  run(h);
  REQUIRE(got.size() == urls.size());
  CHECK(got[0].ok());
  CHECK(got[0]->status == 200);
  CHECK(got[0]->body == "hello");
  CHECK(got[1].error().code == HostCode::permission_denied);
  CHECK(got[2].ok());                                         // strictly below example.org
  CHECK(got[3].error().code == HostCode::permission_denied);  // *.domain is not the domain
  CHECK(got[4].error().code == HostCode::permission_denied);  // the rule means https only
  CHECK(got[5].ok());
  CHECK(got[5]->status == 204);
  CHECK(got[6].error().code == HostCode::permission_denied);  // another port
  CHECK_FALSE(got[7].ok());

  const auto denials = h.host().denials();
  REQUIRE(denials.size() >= 4);
  for (const auto& d : denials) {
    CHECK(d.plugin_id == "probe");
    CHECK(d.permission == "network");
  }
  CHECK_THAT(denials[0].target, Catch::Contains("evil.example.net"));
  CHECK(h.host().fetches().size() == 3);
  CHECK_THROWS_AS(FakeHost().allow_network("https://"), std::invalid_argument);
}

TEST_CASE("Secret references are filled for the upstream and scrubbed from answers",
          "[sdk][host]") {
  sdk::HostResult<sdk::FetchResponse> filled = sdk::HostError{}, undeclared = sdk::HostError{};
  Probe p([&](sdk::Context& ctx) {
    filled = ctx.fetch({.method = "POST",
                        .url = "https://api.example.com/echo",
                        .headers = {{"Authorization", "Bearer {{secret:api_key}}"}}});
    undeclared = ctx.fetch(
        {.url = "https://api.example.com/echo", .headers = {{"X-Key", "{{secret:other}}"}}});
  });
  Harness h(p.plugin);
  h.host()
      .allow_network("api.example.com")
      .declare_secret("api_key", "s3cr3t-value")
      .on_fetch([](const sdk::FetchRequest& r) -> sdk::HostResult<sdk::FetchResponse> {
        // A careless upstream that echoes what it got.
        return sdk::FetchResponse{.status = 200,
                                  .headers = {{"X-Echo", r.headers.at(0).second}},
                                  .body = r.headers.at(0).second};
      });
  run(h);
  REQUIRE(filled.ok());
  CHECK(filled->body == "Bearer [secret:api_key]");
  CHECK(filled->header("x-echo") == "Bearer [secret:api_key]");
  CHECK(filled->header("missing").empty());
  const auto sent = h.host().fetches();
  REQUIRE(sent.size() == 1);  // the undeclared one never left
  CHECK(sent[0].request.headers.at(0).second == "Bearer s3cr3t-value");
  CHECK(sent[0].tenant_id == "tenant-a");

  CHECK(undeclared.error().code == HostCode::permission_denied);
  const auto denials = h.host().denials();
  REQUIRE(denials.size() == 1);
  CHECK(denials[0].permission == "secrets");
  CHECK(denials[0].target == "other");
}

TEST_CASE("Events are confined to plugin.<id>.*", "[sdk][host]") {
  sdk::HostResult<std::string> own = sdk::HostError{}, foreign = sdk::HostError{},
                               system = sdk::HostError{}, malformed = sdk::HostError{};
  Probe p([&](sdk::Context& ctx) {
    own = ctx.emit("plugin.probe.done", {{"n", 1}});
    foreign = ctx.emit("plugin.other.done");
    system = ctx.emit("run.completed");
    malformed = ctx.emit("plugin.probe..x");
  });
  Harness h(p.plugin);
  run(h, "tenant-e");
  REQUIRE(own.ok());
  CHECK_FALSE(own->empty());
  CHECK(foreign.error().code == HostCode::permission_denied);
  CHECK(system.error().code == HostCode::permission_denied);
  CHECK(malformed.error().code == HostCode::invalid_argument);
  const auto events = h.host().events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].id == *own);
  CHECK(events[0].name == "plugin.probe.done");
  CHECK(events[0].tenant_id == "tenant-e");
  CHECK(events[0].payload == Json{{"n", 1}});
  const auto denials = h.host().denials();
  REQUIRE(denials.size() == 2);
  CHECK(denials[0].permission == "events");
  CHECK(denials[0].target == "plugin.other.done");
}

TEST_CASE("State quotas are the plugin's, over all its tenants", "[sdk][host]") {
  std::vector<sdk::HostResult<sdk::StateEntry>> puts;
  std::string key = "a", value = "1234";
  Probe p([&](sdk::Context& ctx) { puts.push_back(ctx.state().put(key, value)); });
  Harness h(p.plugin);
  h.host().set_state_quota({.max_keys = 2, .max_bytes = 12, .max_value_bytes = 8});
  run(h, "t1");  // a + 1234: 5 bytes, 1 key
  value = "123456789";
  run(h, "t1");  // over max_value_bytes
  key = "b", value = "12345";
  run(h, "t2");  // another tenant, same plugin: 11 bytes, 2 keys
  key = "c", value = "";
  run(h, "t2");  // a third key
  key = "a", value = "123456";
  run(h, "t1");  // overwriting: 7 + 6 = 13 bytes > 12
  value = "12345";
  run(h, "t1");  // 6 + 6 = 12 bytes
  REQUIRE(puts.size() == 6);
  CHECK(puts[0].ok());
  CHECK(puts[0]->version == 1);
  CHECK(puts[0]->value.empty());  // not echoed
  CHECK(puts[1].error().code == HostCode::resource_exhausted);
  CHECK_THAT(puts[1].error().message, Catch::Contains("max_value_bytes"));
  CHECK(puts[2].ok());
  CHECK(puts[3].error().code == HostCode::resource_exhausted);
  CHECK_THAT(puts[3].error().message, Catch::Contains("max_keys"));
  CHECK(puts[4].error().code == HostCode::resource_exhausted);
  CHECK_THAT(puts[4].error().message, Catch::Contains("max_bytes"));
  REQUIRE(puts[5].ok());
  CHECK(puts[5]->version == 2);
  CHECK(h.host().denials().empty());  // quotas are not permissions
}

TEST_CASE("Compare-and-set loses with aborted", "[sdk][host]") {
  Probe p([&](sdk::Context& ctx) {
    auto& st = ctx.state();
    auto created = st.put("k", "v1", {.expected_version = 0});
    REQUIRE(created.ok());
    CHECK(created->version == 1);
    CHECK(st.put("k", "again", {.expected_version = 0}).error().code == HostCode::aborted);
    CHECK(st.put("k", "v2", {.expected_version = 1})->version == 2);
    CHECK(st.put("k", "v3", {.expected_version = 1}).error().code == HostCode::aborted);
    CHECK(st.erase("k", 1).error().code == HostCode::aborted);
    CHECK(st.get("k").value()->value == "v2");
    CHECK(st.erase("k", 2).value());
    CHECK_FALSE(st.get("k").value().has_value());
    CHECK_FALSE(st.erase("k").value());
    CHECK(st.put("k", "v", {.expected_version = 5}).error().code == HostCode::aborted);
    CHECK(st.put("", "v").error().code == HostCode::invalid_argument);
    CHECK(st.get(std::string("bad\x01key")).error().code == HostCode::invalid_argument);
  });
  Harness h(p.plugin);
  CHECK_FALSE(run(h).failure);
}

TEST_CASE("State is scoped by plugin and the invocation's tenant", "[sdk][host]") {
  std::string tenant_seen;
  sdk::HostResult<sdk::StatePage> listed = sdk::HostError{};
  Probe writer([](sdk::Context& ctx) {
    REQUIRE(ctx.state().put("greeting", "hello " + ctx.tenant_id()).ok());
  });
  Probe reader([&](sdk::Context& ctx) {
    auto got = ctx.state().get("greeting");
    REQUIRE(got.ok());
    tenant_seen = got.value() ? got.value()->value : "(none)";
    listed = ctx.state().list("");
  });
  Harness h(writer.plugin);
  run(h, "tenant-a");
  Harness same_plugin_reader(reader.plugin, {}, h.host());  // also "probe": same plugin
  run(same_plugin_reader, "tenant-b");
  CHECK(tenant_seen == "(none)");
  REQUIRE(listed.ok());
  CHECK(listed->entries.empty());
  run(same_plugin_reader, "tenant-a");
  CHECK(tenant_seen == "hello tenant-a");

  Probe other(
      [&](sdk::Context& ctx) {
        auto got = ctx.state().get("greeting");
        tenant_seen = got.ok() && got.value() ? got.value()->value : "(none)";
      },
      "other-plugin");
  Harness other_plugin(other.plugin, {}, h.host());
  run(other_plugin, "tenant-a");
  CHECK(tenant_seen == "(none)");

  // The plugin's own state is a scope of its own, reachable outside invocations.
  CHECK_FALSE(writer.plugin.own_state().get("greeting").value().has_value());
  REQUIRE(writer.plugin.own_state().put("global", "g").ok());
  CHECK(h.host().peek_state("probe", "", "global")->value == "g");
  CHECK(h.host().peek_state("probe", "tenant-a", "greeting")->value == "hello tenant-a");
  CHECK_FALSE(h.host().peek_state("probe", "tenant-b", "greeting"));
}

TEST_CASE("A token is good only while its invocation runs, and only for its plugin",
          "[sdk][host]") {
  std::optional<sdk::State> kept;
  std::string token;
  Probe p([&](sdk::Context& ctx) {
    kept = ctx.state();
    token = ctx.invocation_token();
    CHECK(ctx.state().put("k", "v").ok());
  });
  Harness h(p.plugin);
  run(h);
  REQUIRE(kept);
  auto stale = kept->get("k");
  CHECK(stale.error().code == HostCode::permission_denied);

  // A token of probe's, presented on another plugin's connection while probe's call runs.
  sdk::HostResult<std::optional<sdk::StateEntry>> foreign = sdk::HostError{};
  auto thief = h.host().connect("thief");
  Probe p2([&](sdk::Context& ctx) {
    foreign = thief->state_get({ctx.invocation_token(), ctx.deadline()}, "k");
  });
  Harness h2(p2.plugin, {}, h.host());
  run(h2);
  CHECK(foreign.error().code == HostCode::permission_denied);
  // Fetch, AI and events need an invocation: the plugin's own behalf is not enough.
  CHECK(thief->emit({}, "plugin.thief.x", nullptr).error().code == HostCode::permission_denied);

  const auto denials = h.host().denials();
  REQUIRE(denials.size() == 3);
  for (const auto& d : denials) CHECK(d.permission == "invocation_token");
  CHECK(denials[1].plugin_id == "thief");
  CHECK_THAT(denials[0].message, Catch::Contains("not an invocation in flight"));
}

TEST_CASE("An invocation's late log lines are taken, as by the supervisor, and nothing else is",
          "[sdk][host]") {
  // The SDK sends log records asynchronously, so the last ones of a handler can reach the host
  // just after the invocation answered; the supervisor takes them for kFinishedGrace.
  std::string token;
  std::string invocation_id;
  Probe p([&](sdk::Context& ctx) {
    token = ctx.invocation_token();
    invocation_id = ctx.ids().invocation_id;
  });
  Harness h(p.plugin);
  run(h);
  REQUIRE_FALSE(token.empty());

  auto own = h.host().connect("probe");
  REQUIRE(own->log({token, {}}, {"info", "late line", Json::object(), invocation_id}).ok());
  const auto logs = h.host().logs();
  REQUIRE_FALSE(logs.empty());
  CHECK(logs.back().message == "late line");
  CHECK(logs.back().invocation_id == invocation_id);
  CHECK(logs.back().tenant_id == "tenant-a");

  // Only Log, and only on the plugin's own connection.
  CHECK(own->state_get({token, {}}, "k").error().code == HostCode::permission_denied);
  auto thief = h.host().connect("thief");
  CHECK(thief->log({token, {}}, {"info", "not mine", Json::object(), {}}).error().code ==
        HostCode::permission_denied);
  CHECK(own->log({"it_forged", {}}, {"info", "forged", Json::object(), {}}).error().code ==
        HostCode::permission_denied);
}

TEST_CASE("AI chat needs the permission and answers from the script", "[sdk][host]") {
  std::vector<sdk::HostResult<sdk::ChatResponse>> got;
  Probe p([&](sdk::Context& ctx) {
    got.push_back(ctx.ai_chat({.messages = {{.role = "user", .content = "hi"}}, .max_tokens = 5}));
  });
  Harness h(p.plugin);
  run(h);
  h.host().allow_ai().script_chat(
      {.message = {.role = "assistant", .content = "hello"}, .finish_reason = "stop"});
  run(h);
  run(h);  // the script is used up
  REQUIRE(got.size() == 3);
  CHECK(got[0].error().code == HostCode::permission_denied);
  REQUIRE(got[1].ok());
  CHECK(got[1]->message.content == "hello");
  CHECK(got[1]->attempts == 1);
  CHECK(got[2].error().code == HostCode::unavailable);
  const auto chats = h.host().chats();
  REQUIRE(chats.size() == 2);
  CHECK(chats[0].request.messages.at(0).content == "hi");
  CHECK(chats[0].request.max_tokens == 5);
  CHECK(h.host().denials().at(0).permission == "ai");
}

TEST_CASE("State lists in key order, page by page, without expired keys", "[sdk][host]") {
  Probe p([&](sdk::Context& ctx) {
    auto& st = ctx.state();
    for (auto k : {"user:3", "user:1", "user:2", "other", "user:4"}) REQUIRE(st.put(k, k).ok());
    REQUIRE(st.put("user:5", "short-lived", {.ttl = 1000ms}).ok());
  });
  Harness h(p.plugin);
  run(h);
  h.host().advance_clock(2s);
  std::vector<std::string> keys;
  Probe lister([&](sdk::Context& ctx) {
    sdk::ListOptions opts{.limit = 2, .include_values = true};
    for (int pages = 0; pages < 10; ++pages) {
      auto page = ctx.state().list("user:", opts);
      REQUIRE(page.ok());
      for (const auto& e : page->entries) {
        CHECK(e.value == e.key);
        keys.push_back(e.key);
      }
      if (page->next_cursor.empty()) break;
      opts.cursor = page->next_cursor;
    }
    CHECK(ctx.state().list("", {.cursor = "forged"}).error().code == HostCode::invalid_argument);
  });
  Harness h2(lister.plugin, {}, h.host());
  run(h2);
  CHECK(keys == std::vector<std::string>{"user:1", "user:2", "user:3", "user:4"});
}

TEST_CASE("Without a host or past the deadline, host calls fail as values", "[sdk][host]") {
  sdk::Context alone({}, std::chrono::steady_clock::now() + 10s);
  auto r = alone.state().get("k");
  CHECK(r.error().code == HostCode::unavailable);
  CHECK(r.error().message == "no host connection");
  CHECK(alone.emit("plugin.x.y").error().code == HostCode::unavailable);
  CHECK(alone.fetch({.url = "https://x"}).error().code == HostCode::unavailable);
  CHECK_THROWS_AS(r.value(), std::logic_error);
  CHECK(sdk::Plugin("p", "1").own_state().get("k").error().code == HostCode::unavailable);

  FakeHost host;
  sdk::Context late({}, std::chrono::steady_clock::now() - 1ms, {}, nullptr,
                    {host.connect("p"), "token"});
  CHECK(late.state().get("k").error().code == HostCode::deadline_exceeded);
  CHECK(sdk::HostResult<void>().error().code == HostCode::ok);
}

TEST_CASE("The gRPC client's deadline and status mapping", "[sdk][host]") {
  namespace d = sdk::detail;
  const auto steady = std::chrono::steady_clock::now();
  const auto system = std::chrono::system_clock::now();
  CHECK(d::host_call_deadline(steady + 1500ms, steady, system) == system + 1500ms);
  CHECK(d::host_call_deadline(std::chrono::steady_clock::time_point::max(), steady, system) ==
        system + sdk::kMaxHostCallTime);
  CHECK(d::host_call_deadline(steady - 5s, steady, system) == system);

  auto e = d::host_error(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "permission network"));
  CHECK(e.code == HostCode::permission_denied);
  CHECK(e.message == "permission network");
  CHECK(d::host_error(grpc::Status(grpc::StatusCode::ABORTED, "")).code == HostCode::aborted);
  CHECK(d::host_error(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")).code ==
        HostCode::unavailable);
  CHECK(d::host_error(grpc::Status(grpc::StatusCode::CANCELLED, "")).code == HostCode::unknown);
}
