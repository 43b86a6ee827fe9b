// The SDK's host.v1 client over a real fd 4: a plugin process makes every host call against a
// scripted host served here, the way plugvisord serves it (a listener-less server on the fd).
#include <errno.h>
#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "plugvisor/host/v1/host.grpc.pb.h"
#include "spawned_plugin.h"

using namespace plugvisor::sdk::test;
using plugvisor::UniqueFd;
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
  std::vector<hv1::LogRequest> logs() {
    std::lock_guard lock(mu_);
    return logs_;
  }
  // Waits until `n` records have arrived; the records then.
  std::vector<hv1::LogRequest> wait_for_logs(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    logged_.wait_for(lock, timeout, [&] { return logs_.size() >= n; });
    return logs_;
  }
  // Answers every Log with UNAVAILABLE, as a supervisor that cannot take it.
  void refuse_logs() { refuse_logs_ = true; }

  Status Log(grpc::ServerContext*, const hv1::LogRequest* r, hv1::LogResponse*) override {
    if (refuse_logs_) return Status(StatusCode::UNAVAILABLE, "not now");
    std::lock_guard lock(mu_);
    logs_.push_back(*r);
    logged_.notify_all();
    return Status::OK;
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

  std::atomic<bool> refuse_logs_{false};
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::vector<hv1::LogRequest> logs_;
  std::condition_variable logged_;
  std::vector<hv1::StatePutRequest> puts_;
  hv1::FetchRequest fetch_;
  hv1::AiChatRequest chat_;
};

// The read end of a pipe given to a plugin as its stderr; text() reads it to the end.
class StderrPipe {
 public:
  StderrPipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_ = UniqueFd(fds[0]);
    write_ = UniqueFd(::fcntl(fds[1], F_DUPFD_CLOEXEC, 10));  // never a no-op dup2 onto 2
    ::close(fds[1]);
  }
  int child_end() const { return write_.get(); }
  void spawned() { write_ = UniqueFd(); }  // only the child's copy is left: EOF when it exits
  std::string text() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(read_.get(), buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  UniqueFd read_;
  UniqueFd write_;
};

// The JSON lines of `text` whose "msg" is `msg`.
std::vector<Json> lines_with_msg(const std::string& text, const std::string& msg) {
  std::vector<Json> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    Json line = Json::parse(text.substr(at, end - at), nullptr, false);
    if (line.is_object() && line.value("msg", "") == msg) out.push_back(line);
    at = end + 1;
  }
  return out;
}

struct Served {
  std::unique_ptr<grpc::Server> server;
  explicit Served(ScriptedHost& host, SpawnedPlugin& plugin) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&host);
    server = builder.BuildAndStart();
    REQUIRE(server);
    grpc::AddInsecureChannelFromFd(server.get(), plugin.take_host_fd().release());
  }
  ~Served() { server->Shutdown(std::chrono::system_clock::now()); }
};

}  // namespace

TEST_CASE("Host calls cross fd 4 with the invocation's token and deadline", "[sdk][host]") {
  StderrPipe stderr_pipe;
  SpawnedPlugin plugin(plugin_path("plugvisor-sdk-host-probe"), {}, -1, stderr_pipe.child_end());
  stderr_pipe.spawned();
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

  // The log records went through host.v1 Log, not stderr, the handler's under its token. They
  // are sent after the answer (logging never delays it), so they may still be on their way.
  const auto logs = host.wait_for_logs(2, 10s);
  REQUIRE(logs.size() == 2);
  CHECK(logs[0].message() == "configured");
  CHECK(logs[0].level() == "info");
  CHECK(logs[0].invocation_token().empty());
  CHECK(logs[0].invocation_id().empty());
  CHECK(logs[0].fields().at("phase") == "configure");
  CHECK(logs[1].message() == "probe ran");
  CHECK(logs[1].level() == "warn");
  CHECK(logs[1].invocation_token() == "it_token_9");
  CHECK(logs[1].invocation_id() == "inv-9");
  CHECK(logs[1].fields().at("calls") == "7");  // non-string values travel as JSON text
  CHECK(logs[1].fields().at("who") == "probe");

  REQUIRE(plugin.shutdown(1000).ok());
  CHECK(plugin.wait_exit_text(30s) == "exit 0");
  server->Shutdown(std::chrono::system_clock::now());
  const std::string err = stderr_pipe.text();
  INFO(err);
  CHECK(lines_with_msg(err, "probe ran").empty());
  CHECK(lines_with_msg(err, "configured").empty());
}

TEST_CASE("Log lines fall back to stderr without a host, or when it refuses them",
          "[sdk][host][log]") {
  const bool with_host = GENERATE(true, false);
  INFO((with_host ? "a host that answers Log with UNAVAILABLE" : "no fd 4"));
  StderrPipe stderr_pipe;
  SpawnedPlugin plugin(plugin_path("plugvisor-sdk-host-probe"), {}, -1, stderr_pipe.child_end(),
                       with_host);
  stderr_pipe.spawned();
  ScriptedHost host;
  host.refuse_logs();
  std::optional<Served> served;
  if (with_host) served.emplace(host, plugin);

  pb::DescribeResponse described;
  REQUIRE(plugin.describe(&described).ok());
  pb::InvokeResponse invoked;
  const auto st = plugin.invoke("tool.pre_exec", "{}", &invoked, 20s, "inv-7", "it_token_7");
  INFO(st.error_message());
  REQUIRE(st.ok());
  REQUIRE(plugin.shutdown(1000).ok());
  CHECK(plugin.wait_exit_text(30s) == "exit 0");
  served.reset();

  const std::string err = stderr_pipe.text();
  INFO(err);
  const auto ran = lines_with_msg(err, "probe ran");
  REQUIRE(ran.size() == 1);
  CHECK(ran[0]["level"] == "warn");  // the SDK's keys win over the handler's "level" field
  CHECK(ran[0]["invocation_id"] == "inv-7");
  CHECK(ran[0]["calls"] == 7);
  CHECK(ran[0]["who"] == "probe");
  const auto configured = lines_with_msg(err, "configured");
  REQUIRE(configured.size() == 1);
  CHECK_FALSE(configured[0].contains("invocation_id"));
  CHECK(host.logs().empty());
}
