// The SDK's host.v1 client over a real fd 4: a plugin process makes every host call against a
// scripted host served here, the way plugvisord serves it (a listener-less server on the fd).
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>

#include <catch2/catch.hpp>
#include <mutex>
#include <nlohmann/json.hpp>

#include "plugvisor/host/v1/host.grpc.pb.h"
#include "spawned_plugin.h"

using namespace plugvisor::sdk::test;
using namespace std::chrono_literals;
using grpc::Status;
using grpc::StatusCode;
using Json = nlohmann::json;
namespace hv1 = ::plugvisor::host::v1;

namespace {

// Answers each method in a fixed way and records what arrived.
class ScriptedHost final : public hv1::Host::Service {
 public:
  struct Seen {
    std::string method;
    std::string token;
    std::chrono::milliseconds deadline_in{0};
  };

  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  hv1::StatePutRequest first_put() {
    std::lock_guard lock(mu_);
    return puts_.at(0);
  }
  hv1::FetchRequest fetch() {
    std::lock_guard lock(mu_);
    return fetch_;
  }
  hv1::AiChatRequest chat() {
    std::lock_guard lock(mu_);
    return chat_;
  }

  Status StateGet(grpc::ServerContext* c, const hv1::StateGetRequest* r,
                  hv1::StateGetResponse* out) override {
    record(c, "StateGet", r->invocation_token());
    out->set_found(true);
    out->mutable_entry()->set_key(r->key());
    out->mutable_entry()->set_value(std::string("v\0x", 3));
    out->mutable_entry()->set_version(3);
    return Status::OK;
  }
  Status StatePut(grpc::ServerContext* c, const hv1::StatePutRequest* r,
                  hv1::StatePutResponse* out) override {
    record(c, "StatePut", r->invocation_token());
    {
      std::lock_guard lock(mu_);
      puts_.push_back(*r);
    }
    if (r->key() == "configured") {
      out->mutable_entry()->set_version(1);
      return Status::OK;
    }
    return Status(StatusCode::ABORTED, "state key k is at version 4, not 3");
  }
  Status StateDelete(grpc::ServerContext* c, const hv1::StateDeleteRequest* r,
                     hv1::StateDeleteResponse* out) override {
    record(c, "StateDelete", r->invocation_token());
    out->set_deleted(true);
    return Status::OK;
  }
  Status StateList(grpc::ServerContext* c, const hv1::StateListRequest* r,
                   hv1::StateListResponse* out) override {
    record(c, "StateList", r->invocation_token());
    if (r->limit() != 7) return Status(StatusCode::INVALID_ARGUMENT, "limit not sent");
    out->add_entries()->set_key(r->prefix() + "a");
    out->add_entries()->set_key(r->prefix() + "b");
    out->set_next_cursor("c2");
    return Status::OK;
  }
  Status Fetch(grpc::ServerContext* c, const hv1::FetchRequest* r,
               hv1::FetchResponse* out) override {
    record(c, "Fetch", r->invocation_token());
    {
      std::lock_guard lock(mu_);
      fetch_ = *r;
    }
    out->set_status(201);
    auto* h = out->add_headers();
    h->set_name("Content-Type");
    h->set_value("text/plain");
    out->set_body("made");
    return Status::OK;
  }
  Status AiChat(grpc::ServerContext* c, const hv1::AiChatRequest* r,
                hv1::AiChatResponse* out) override {
    record(c, "AiChat", r->invocation_token());
    {
      std::lock_guard lock(mu_);
      chat_ = *r;
    }
    out->mutable_message()->set_role("assistant");
    out->mutable_message()->set_content("hello");
    out->mutable_message()->set_tool_calls_json(R"([{"id":"call_1"}])");
    out->mutable_usage()->set_total_tokens(12);
    return Status::OK;
  }
  Status Emit(grpc::ServerContext* c, const hv1::EmitRequest* r, hv1::EmitResponse*) override {
    record(c, "Emit", r->invocation_token());
    return Status(StatusCode::PERMISSION_DENIED, "permission events denies " + r->name());
  }

 private:
  void record(grpc::ServerContext* c, std::string method, const std::string& token) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        c->deadline() - std::chrono::system_clock::now());
    std::lock_guard lock(mu_);
    seen_.push_back({std::move(method), token, left});
  }

  std::mutex mu_;
  std::vector<Seen> seen_;
  std::vector<hv1::StatePutRequest> puts_;
  hv1::FetchRequest fetch_;
  hv1::AiChatRequest chat_;
};

}  // namespace

TEST_CASE("Host calls cross fd 4 with the invocation's token and deadline", "[sdk][host]") {
  SpawnedPlugin plugin(plugin_path("plugvisor-sdk-host-probe"));
  ScriptedHost host;
  grpc::ServerBuilder builder;
  builder.RegisterService(&host);
  auto server = builder.BuildAndStart();
  REQUIRE(server);
  grpc::AddInsecureChannelFromFd(server.get(), plugin.take_host_fd().release());

  pb::DescribeResponse described;
  REQUIRE(plugin.describe(&described).ok());
  pb::InvokeResponse invoked;
  auto st = plugin.invoke("tool.pre_exec", "{}", &invoked, 20s, "inv-9", "it_token_9");
  INFO(st.error_message());
  REQUIRE(st.ok());
  const Json out = Json::parse(invoked.patch_json());
  INFO(out.dump(2));

  CHECK(out["get"] ==
        Json{{"code", "ok"}, {"message", ""}, {"value", std::string("v\0x", 3)}, {"version", 3}});
  CHECK(out["put"]["code"] == "aborted");
  CHECK(out["put"]["message"] == "state key k is at version 4, not 3");
  CHECK(out["erase"]["deleted"] == true);
  CHECK(out["list"]["keys"] == Json::array({"p/a", "p/b"}));
  CHECK(out["list"]["next"] == "c2");
  CHECK(out["fetch"]["status"] == 201);
  CHECK(out["fetch"]["body"] == "made");
  CHECK(out["fetch"]["type"] == "text/plain");
  CHECK(out["ai"]["content"] == "hello");
  CHECK(out["ai"]["tool_calls"] == Json::parse(R"([{"id":"call_1"}])"));
  CHECK(out["ai"]["total_tokens"] == 12);
  CHECK(out["emit"]["code"] == "permission_denied");
  CHECK(out["emit"]["message"] == "permission events denies plugin.host-probe.done");

  // What reached the host: the plugin's own put from on_configure with no token and the
  // SDK's cap as its deadline, then every invocation call with the token and within 20 s.
  const auto seen = host.seen();
  REQUIRE(seen.size() == 8);
  CHECK(seen[0].method == "StatePut");
  CHECK(seen[0].token.empty());
  CHECK(seen[0].deadline_in > 30s);
  for (size_t i = 1; i < seen.size(); ++i) {
    INFO(seen[i].method);
    CHECK(seen[i].token == "it_token_9");
    // gRPC rounds a timeout up when it puts it on the wire, hence the slack.
    CHECK(seen[i].deadline_in <= 20500ms);
    CHECK(seen[i].deadline_in > 0ms);
  }
  const auto put = host.first_put();
  CHECK(put.key() == "configured");
  CHECK_FALSE(put.has_expected_version());
  const auto fetch = host.fetch();
  CHECK(fetch.method() == "POST");
  CHECK(fetch.headers(0).value() == "Bearer {{secret:k}}");  // filled host-side, not here
  CHECK(fetch.body() == "payload");
  const auto chat = host.chat();
  CHECK(chat.messages(0).content() == "hi");
  CHECK(chat.tools_json() == R"([{"type":"function"}])");
  CHECK(chat.tool_choice_json().empty());
  CHECK(chat.has_temperature());

  REQUIRE(plugin.shutdown(1000).ok());
  CHECK(plugin.wait_exit_text(30s) == "exit 0");
  server->Shutdown(std::chrono::system_clock::now());
}
