// host.v1 through a real plugvisord and real plugin processes (plugvisor-fixture-host, sandboxed):
// state with tenant and cross-plugin isolation, quotas and compare-and-set; invocation tokens
// (stale, foreign, made up, missing); events only under plugin.<id>.*; and for every refusal a
// PERMISSION_DENIED answer, a receipt, an event and a counter.
#include <catch2/catch.hpp>

#include "host_world.h"
#include "pg_cluster.h"

using namespace plugvisor::testsupport;

namespace {

const std::string kStatePerms = "      state: {max_keys: 4, max_bytes: 2048, max_value_bytes: 512}\n";

std::vector<HostPlugin> two_plugins() {
  return {{"alpha", "tool.pre_exec", kStatePerms}, {"beta", "model.pre_call", kStatePerms}};
}

Json op(const std::string& name, Json fields = Json::object()) {
  fields["op"] = name;
  return fields;
}

}  // namespace

TEST_CASE("state: get/put/delete/list, compare-and-set, scoped by tenant and by plugin") {
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(host_config(two_plugins()), url);
  sup->wait_for_state("alpha", "ready");
  sup->wait_for_state("beta", "ready");

  auto a = run_host_ops(*sup, "tool.pre_exec",
                        {op("put", {{"key", "k"}, {"value", "for tenant a"}}),
                         op("put", {{"key", "k"}, {"value", "v2"}, {"expected_version", 1}}),
                         op("put", {{"key", "k"}, {"value", "lost"}, {"expected_version", 1}}),
                         op("put", {{"key", "k"}, {"value", "x"}, {"expected_version", 0}}),
                         op("get", {{"key", "k"}}),
                         op("put", {{"key", "other"}, {"value", "o"}}),
                         op("list", {{"prefix", ""}}),
                         op("delete", {{"key", "other"}}),
                         op("get", {{"key", "other"}})},
                        "tenant-a")
               .results;
  INFO(a.dump(2));
  CHECK(a[0]["ok"] == true);
  CHECK(a[0]["entry"]["version"] == 1);
  CHECK(a[1]["entry"]["version"] == 2);
  CHECK(a[2]["code"] == "aborted");  // version 1 is gone
  CHECK(a[3]["code"] == "aborted");  // "only if absent", but it exists
  CHECK(a[4]["entry"]["value"] == "v2");
  CHECK(a[6]["entries"].size() == 2);
  CHECK(a[7]["deleted"] == true);
  CHECK(a[8]["entry"].is_null());

  // Tenant B of the same plugin sees nothing of tenant A's, and writes its own.
  auto b = run_host_ops(*sup, "tool.pre_exec",
                        {op("get", {{"key", "k"}}), op("put", {{"key", "k"}, {"value", "for b"}}),
                         op("list", {{"prefix", ""}})},
                        "tenant-b")
               .results;
  INFO(b.dump(2));
  CHECK(b[0]["ok"] == true);
  CHECK(b[0]["entry"].is_null());
  CHECK(b[1]["entry"]["version"] == 1);
  CHECK(b[2]["entries"].size() == 1);

  // Another plugin, same tenant, same key: its own empty namespace. Keys that look like paths
  // into someone else's scope are just keys.
  auto c = run_host_ops(*sup, "model.pre_call",
                        {op("get", {{"key", "k"}}), op("get", {{"key", "../alpha/k"}}),
                         op("get", {{"key", "alpha/tenant-a/k"}}), op("list", {{"prefix", ""}})},
                        "tenant-a")
               .results;
  INFO(c.dump(2));
  for (int i = 0; i < 3; ++i) CHECK(c[i]["entry"].is_null());
  CHECK(c[3]["entries"].empty());

  // The plugin's own, tenant-less state is a scope of its own, and is the only thing allowed
  // without an invocation token.
  auto own = run_host_ops(*sup, "tool.pre_exec",
                          {op("put", {{"key", "k"}, {"value", "own"}, {"own", true}}),
                           op("get", {{"key", "k"}, {"own", true}}), op("get", {{"key", "k"}})},
                          "tenant-a")
                 .results;
  INFO(own.dump(2));
  CHECK(own[1]["entry"]["value"] == "own");
  CHECK(own[2]["entry"]["value"] == "v2");
}

TEST_CASE("state quotas fail with a clear error and write nothing") {
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(host_config(two_plugins()), url);
  sup->wait_for_state("alpha", "ready");
  std::vector<Json> ops;
  for (int i = 0; i < 5; ++i) ops.push_back(op("put", {{"key", "k" + std::to_string(i)}, {"value", "v"}}));
  ops.push_back(op("put", {{"key", "big"}, {"value", std::string(600, 'x')}}));
  ops.push_back(op("list", {{"prefix", ""}}));
  auto r = run_host_ops(*sup, "tool.pre_exec", ops).results;
  INFO(r.dump(2));
  for (int i = 0; i < 4; ++i) CHECK(r[i]["ok"] == true);
  CHECK(r[4]["code"] == "resource_exhausted");
  CHECK_THAT(r[4]["message"].get<std::string>(), Catch::Contains("max_keys"));
  CHECK(r[5]["code"] == "resource_exhausted");
  CHECK_THAT(r[5]["message"].get<std::string>(), Catch::Contains("max_value_bytes"));
  CHECK(r[6]["entries"].size() == 4);
  // Quotas are the plugin's over all its tenants.
  auto other = run_host_ops(*sup, "tool.pre_exec", {op("put", {{"key", "x"}, {"value", "v"}})},
                            "tenant-b")
                   .results;
  CHECK(other[0]["code"] == "resource_exhausted");
}

TEST_CASE("invocation tokens: stale, foreign, made up and missing ones are refused") {
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(host_config(two_plugins()), url);
  sup->wait_for_state("alpha", "ready");
  sup->wait_for_state("beta", "ready");

  auto first = run_host_ops(*sup, "tool.pre_exec",
                            {op("token"), op("keep_token"), op("put", {{"key", "k"}, {"value", "a"}})})
                   .results;
  const std::string alpha_token = first[0]["token"];
  REQUIRE(alpha_token.size() > 40);

  auto r = run_host_ops(
               *sup, "tool.pre_exec",
               {// its own token from an invocation that has finished
                op("as", {{"token", "kept"}, {"do", op("get", {{"key", "k"}})}}),
                op("as", {{"token", "it_0000"}, {"do", op("get", {{"key", "k"}})}}),
                // no token: own state only; tenant-scoped services are refused
                op("as", {{"token", ""}, {"do", op("emit", {{"name", "plugin.alpha.x"}})}}),
                op("as", {{"token", ""}, {"do", op("fetch", {{"url", "https://example.com/"}})}})},
               "tenant-a")
               .results;
  INFO(r.dump(2));
  for (int i = 0; i < 4; ++i) CHECK(r[i]["code"] == "permission_denied");
  CHECK_THAT(r[0]["message"].get<std::string>(), Catch::Contains("invocation_token"));

  // Another plugin presenting alpha's token gets nothing of alpha's.
  auto theft = run_host_ops(*sup, "model.pre_call",
                            {op("as", {{"token", alpha_token}, {"do", op("get", {{"key", "k"}})}})})
                   .results;
  CHECK(theft[0]["code"] == "permission_denied");

  // Each refusal is counted in status, with a receipt and an event naming permission and target.
  const auto alpha = sup->wait_for("alpha", [](const auto& p) { return p.permission_denied() >= 4; });
  CHECK(alpha.permission_denied() == 4);
  CHECK(alpha.host_calls().at("StatePut") == 1);
  CHECK(sup->plugin("beta").permission_denied() == 1);
  // The receipt writer batches: wait for the five denials to be stored.
  CHECK(eventually(
      [&] {
        int n = 0;
        for (const auto& row : table_rows(url, "receipts")) n += row.find("\"denied\"") != std::string::npos;
        return n >= 5;
      },
      std::chrono::seconds(20)));
  int denied_receipts = 0;
  for (const auto& row : table_rows(url, "receipts")) {
    Json j = Json::parse(row);
    if (j["status"] != "denied") continue;
    ++denied_receipts;
    CHECK(j["error_code"] == "PERMISSION_DENIED");
    CHECK(j["hook"].get<std::string>().rfind("host.", 0) == 0);
  }
  CHECK(denied_receipts == 5);
  int denied_events = 0;
  for (const auto& row : table_rows(url, "events")) {
    Json j = Json::parse(row);
    if (j["kind"] != "permission_denied") continue;
    ++denied_events;
    CHECK(j["detail"]["permission"].is_string());
    CHECK(j["detail"].contains("target"));
  }
  CHECK(denied_events == 5);
}

TEST_CASE("events: only under plugin.<id>.*, stored with attribution, followed by prefix") {
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(host_config(two_plugins()), url);
  sup->wait_for_state("alpha", "ready");
  auto r = run_host_ops(*sup, "tool.pre_exec",
                        {op("emit", {{"name", "plugin.alpha.summary_ready"}, {"payload", {{"n", 3}}}}),
                         op("emit", {{"name", "plugin.beta.spoofed"}}),
                         op("emit", {{"name", "supervisor_started"}}),
                         op("emit", {{"name", "plugin.alpha"}}),
                         op("emit", {{"name", "plugin.alpha.bad name"}})},
                        "tenant-a")
               .results;
  INFO(r.dump(2));
  CHECK(r[0]["ok"] == true);
  CHECK(r[1]["code"] == "permission_denied");
  CHECK(r[2]["code"] == "permission_denied");
  CHECK(r[3]["code"] == "permission_denied");
  CHECK(r[4]["code"] == "invalid_argument");

  // The host application follows them with WatchEvents by prefix.
  av1::WatchEventsRequest req;
  req.set_kind_prefix("plugin.alpha.");
  req.set_replay(100);
  req.set_follow(false);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = sup->admin().WatchEvents(&ctx, req);
  std::vector<av1::Event> seen;
  for (av1::Event e; reader->Read(&e);) seen.push_back(e);
  REQUIRE(reader->Finish().ok());
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].kind() == "plugin.alpha.summary_ready");
  CHECK(seen[0].plugin_id() == "alpha");
  Json detail = Json::parse(seen[0].detail_json());
  CHECK(detail["payload"]["n"] == 3);
  CHECK(detail["attribution"]["tenant_id"] == "tenant-a");
  CHECK(detail["attribution"]["work_item_id"] == "wi-1");
  CHECK(detail["attribution"]["run_id"] == "run-1");
  CHECK(detail["attribution"]["hook"] == "tool.pre_exec");
  CHECK(detail["attribution"]["plugin_version"].is_string());
  CHECK(seen[0].id() == r[0]["event_id"]);
}
