// The summariser example end to end: a real plugvisord running plugvisor-summariser in its
// sandbox, an OpenAI-compatible upstream served by this test on 127.0.0.1, and the database the
// supervisor writes to. Checks what an operator would: the prompts the upstream saw, the state
// rows and their versions, the events with their attribution, and the usage the admin API sums.
#include <catch2/catch.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "fake_http_server.h"
#include "pg_cluster.h"
#include "store/connection.h"
#include "supervisor_harness.h"

using namespace plugvisor::testsupport;
using Json = nlohmann::json;

namespace {

// /v1/chat/completions answering call n with "summary-<n>" and usage (10n prompt, n completion)
// tokens, so every answer and every token can be traced back to the call that produced it.
class FakeModel {
 public:
  // `delay`: how long each answer takes, to keep concurrent deliveries in flight together.
  explicit FakeModel(std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    server_.on("POST", "/v1/chat/completions", [this, delay](const FakeHttpServer::Request&) {
      std::lock_guard lock(mu_);
      const int n = ++calls_;
      prompt_tokens_ += 10 * n;
      completion_tokens_ += n;
      const Json answer = {
          {"id", "chatcmpl-" + std::to_string(n)},
          {"object", "chat.completion"},
          {"model", "fake-model"},
          {"choices",
           {{{"index", 0},
             {"finish_reason", "stop"},
             {"message", {{"role", "assistant"}, {"content", "summary-" + std::to_string(n)}}}}}},
          {"usage",
           {{"prompt_tokens", 10 * n}, {"completion_tokens", n}, {"total_tokens", 11 * n}}}};
      return FakeHttpServer::Response{
          200, {{"content-type", "application/json"}}, answer.dump(), delay};
    });
  }
  FakeHttpServer& server() { return server_; }
  int64_t prompt_tokens() {
    std::lock_guard lock(mu_);
    return prompt_tokens_;
  }
  int64_t completion_tokens() {
    std::lock_guard lock(mu_);
    return completion_tokens_;
  }

 private:
  std::mutex mu_;
  int calls_ = 0;
  int64_t prompt_tokens_ = 0;
  int64_t completion_tokens_ = 0;
  FakeHttpServer server_;  // last: destroyed (its thread joined) before what its handler uses
};

std::string config(const std::string& base_url) {
  return fast_defaults_yaml() +
         "dispatch:\n  budget_ms: 30000\n"
         "ai: {base_url: \"" +
         base_url +
         "\", model: fake-model}\n"
         "plugins:\n"
         "  - id: summariser\n"
         "    executable: " +
         plugin_binary("plugvisor-summariser") +
         "\n"
         "    hooks:\n"
         // Generous: the machine may be loaded, and nothing waits on a post-delivery hook.
         "      - {hook: response.post_deliver, timeout_ms: 20000}\n"
         "    permissions:\n"
         "      ai: {max_retries: 0, timeout_ms: 10000}\n"
         "      state: {max_keys: 100, max_value_bytes: 65536}\n"
         "    settings:\n"
         "      max_input_chars: 2000\n"
         "      temperature: 0.2\n"
         "      ttl_hours: 24\n";
}

// Dispatches response.post_deliver for (tenant, work item); the harness's own dispatch() has a
// fixed work item, and the summaries are keyed by it. No assertions: threads call it too.
grpc::Status post_deliver(hv1::Hooks::Stub& hooks, const std::string& tenant,
                          const std::string& work_item, const std::string& content,
                          hv1::DispatchResponse* resp) {
  hv1::DispatchRequest req;
  req.set_hook("response.post_deliver");
  req.mutable_context()->set_tenant_id(tenant);
  req.mutable_context()->set_work_item_id(work_item);
  req.mutable_context()->set_run_id("run-" + work_item);
  req.set_data_json(Json{{"content", content}, {"metadata", {{"channel", "chat"}}}}.dump());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return hooks.Dispatch(&ctx, req, resp);
}

// One delivery that must succeed, with the summariser's receipt ok.
void deliver(hv1::Hooks::Stub& hooks, Supervisor& sup, const std::string& tenant,
             const std::string& work_item, const std::string& content) {
  hv1::DispatchResponse resp;
  const grpc::Status status = post_deliver(hooks, tenant, work_item, content, &resp);
  if (!status.ok()) FAIL("Dispatch: " << status.error_message() << "\n" << sup.log());
  INFO("receipts: " << resp.ShortDebugString());
  REQUIRE(resp.receipts_size() == 1);
  if (resp.receipts(0).status() != "ok") {
    FAIL("the summariser failed; plugvisord log:\n" << sup.log());
  }
  CHECK_FALSE(resp.blocked());
}

using Rows = std::vector<std::vector<std::string>>;  // every column as text

Rows query(const std::string& database_url, const std::string& sql) {
  auto conn = plugvisor::store::Connection::open(database_url);
  REQUIRE(conn.ok());
  auto r = conn->exec(sql);
  if (!r) FAIL(sql << ": " << r.error().message);
  Rows out;
  for (int i = 0; i < r->rows(); ++i) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(r->raw()); ++c) row.push_back(r->text(i, c));
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

TEST_CASE("summariser: running summaries per work item through the AI proxy, state and events") {
  FakeModel model;
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(config(model.server().url("/v1")), url);
  sup->wait_for_state("summariser", "ready");
  auto channel =
      grpc::CreateChannel("unix:" + sup->dir() + "/api.sock", grpc::InsecureChannelCredentials());
  auto hooks = hv1::Hooks::NewStub(channel);

  // W1 gets three responses, W2 one in between: calls 1, 2, 4 are W1's and call 3 is W2's.
  deliver(*hooks, *sup, "t1", "W1", "W1 reply one: the invoice is attached.");
  deliver(*hooks, *sup, "t1", "W1", "W1 reply two: the refund was approved.");
  deliver(*hooks, *sup, "t1", "W2", "W2 reply one: the password was reset.");
  deliver(*hooks, *sup, "t1", "W1", "W1 reply three: the ticket is closed.");

  // Sandboxed, and every delivery made exactly one call of each kind, none refused.
  const auto status = sup->plugin("summariser");
  INFO(status.ShortDebugString());
  CHECK(status.sandbox() == "enforced");
  CHECK(status.permission_denied() == 0);
  for (const char* method : {"StateGet", "AiChat", "StatePut", "Emit"}) {
    INFO(method);
    CHECK(status.host_calls().count(method) == 1);
    if (status.host_calls().count(method) == 1) CHECK(status.host_calls().at(method) == 4);
  }

  // What the upstream saw: one chat per delivery, each W1 prompt carrying the summary before it.
  const auto sent = model.server().requests();
  REQUIRE(sent.size() == 4);
  std::vector<std::string> prompts;
  for (const auto& req : sent) {
    const Json body = Json::parse(req.body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body["model"] == "fake-model");
    CHECK(body["temperature"] == 0.2);
    REQUIRE(body["messages"].size() == 2);
    CHECK(body["messages"][0]["role"] == "system");
    prompts.push_back(body["messages"][1]["content"].get<std::string>());
  }
  CHECK_THAT(prompts[0], Catch::Contains("none yet") && Catch::Contains("the invoice is attached"));
  CHECK_THAT(prompts[1],
             Catch::Contains("summary-1") && Catch::Contains("the refund was approved"));
  CHECK_THAT(prompts[2], Catch::Contains("none yet") && Catch::Contains("the password was reset"));
  CHECK(prompts[2].find("summary-") == std::string::npos);  // W2 never sees W1's summary
  CHECK_THAT(prompts[3], Catch::Contains("summary-2") && Catch::Contains("the ticket is closed"));

  // The usage the admin API sums is what the upstream reported.
  plugvisor::admin::v1::UsageRequest usage_req;
  usage_req.add_group_by("plugin");
  usage_req.add_group_by("tenant");
  plugvisor::admin::v1::UsageResponse usage;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    REQUIRE(sup->admin().Usage(&ctx, usage_req, &usage).ok());
  }
  INFO(usage.ShortDebugString());
  REQUIRE(usage.rows_size() == 1);
  CHECK(usage.rows(0).plugin_id() == "summariser");
  CHECK(usage.rows(0).tenant_id() == "t1");
  CHECK(usage.rows(0).calls() == 4);
  CHECK(static_cast<int64_t>(usage.rows(0).prompt_tokens()) == model.prompt_tokens());
  CHECK(static_cast<int64_t>(usage.rows(0).completion_tokens()) == model.completion_tokens());
  CHECK(static_cast<int64_t>(usage.total().total_tokens()) ==
        model.prompt_tokens() + model.completion_tokens());
  CHECK(usage.total().total_tokens() == 110);  // 10+20+30+40 prompt, 1+2+3+4 completion

  CHECK(sup->terminate() == 0);  // flushes events and receipts before they are read below

  // State: the latest summary per work item, versions counting the deliveries, with a TTL.
  const auto state = query(url,
                           "SELECT tenant_id, key, convert_from(value, 'UTF8'), version, "
                           "expires_at IS NOT NULL FROM plugin_state "
                           "WHERE plugin_id = 'summariser' ORDER BY tenant_id, key");
  REQUIRE(state.size() == 2);
  const std::vector<std::tuple<std::string, std::string, std::string, int>> want = {
      {"summary/W1", "summary-4", "3", 3}, {"summary/W2", "summary-3", "1", 1}};
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& [key, text, version, turns] = want[i];
    const auto& row = state[i];
    INFO(row[2]);
    CHECK(row[0] == "t1");
    CHECK(row[1] == key);
    CHECK(row[3] == version);
    CHECK(row[4] == "t");
    const Json value = Json::parse(row[2], nullptr, false);
    REQUIRE(value.is_object());
    CHECK(value["summary"] == text);
    CHECK(value["turns"] == turns);
    CHECK(value["model"] == "fake-model");
  }

  // Events: one per update, attributed to the invocation, carrying counts but no content.
  const auto events = query(url,
                            "SELECT plugin_id, detail->'attribution'->>'work_item_id', "
                            "detail->'attribution'->>'tenant_id', detail->'payload'->>'turns', "
                            "detail::text FROM events "
                            "WHERE kind = 'plugin.summariser.summary_updated' ORDER BY seq");
  REQUIRE(events.size() == 4);
  const std::vector<std::pair<std::string, std::string>> updates = {
      {"W1", "1"}, {"W1", "2"}, {"W2", "1"}, {"W1", "3"}};
  for (size_t i = 0; i < updates.size(); ++i) {
    const auto& row = events[i];
    INFO(row[4]);
    CHECK(row[0] == "summariser");
    CHECK(row[1] == updates[i].first);
    CHECK(row[2] == "t1");
    CHECK(row[3] == updates[i].second);
    CHECK(row[4].find("reply") == std::string::npos);
    CHECK(row[4].find("summary-") == std::string::npos);
  }
}

TEST_CASE("summariser: concurrent deliveries for one work item lose no update") {
  // Each answer takes 300 ms, so the three deliveries read the same version and race to store.
  FakeModel model(std::chrono::milliseconds(300));
  const auto url = fresh_database(shared_cluster());
  auto sup = Supervisor::start(config(model.server().url("/v1")), url);
  sup->wait_for_state("summariser", "ready");
  auto hooks = hv1::Hooks::NewStub(
      grpc::CreateChannel("unix:" + sup->dir() + "/api.sock", grpc::InsecureChannelCredentials()));
  // Three racers: with kMaxAttempts = 3 each is sure to store, even if it loses twice.
  constexpr int kRacers = 3;
  std::vector<grpc::Status> statuses(kRacers);
  std::vector<hv1::DispatchResponse> responses(kRacers);
  {
    std::vector<std::jthread> racers;
    for (int i = 0; i < kRacers; ++i) {
      racers.emplace_back([&, i] {
        statuses[i] = post_deliver(*hooks, "t1", "W3", "reply " + std::to_string(i), &responses[i]);
      });
    }
  }
  for (int i = 0; i < kRacers; ++i) {
    INFO(i << ": " << statuses[i].error_message() << " " << responses[i].ShortDebugString());
    REQUIRE(statuses[i].ok());
    REQUIRE(responses[i].receipts_size() == 1);
    CHECK(responses[i].receipts(0).status() == "ok");
  }
  // Every delivery was folded in: the last summary counts three, stored at version three. Lost
  // races cost extra calls (how many depends on how the plugin's threads interleaved).
  const auto state =
      query(url,
            "SELECT convert_from(value, 'UTF8'), version FROM plugin_state "
            "WHERE plugin_id = 'summariser' AND tenant_id = 't1' AND key = 'summary/W3'");
  REQUIRE(state.size() == 1);
  CHECK(state[0][1] == "3");
  const Json value = Json::parse(state[0][0], nullptr, false);
  REQUIRE(value.is_object());
  CHECK(value["turns"] == 3);
  const size_t calls = model.server().request_count();
  INFO("upstream calls for 3 racing deliveries: " << calls);
  CHECK(calls >= 3);
  CHECK(calls <= 6);  // 3 + 2 + 1 at worst
  CHECK(sup->terminate() == 0);
}
