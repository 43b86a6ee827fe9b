// plugvisorctl end to end against an in-process fake of plugvisord's admin and hooks services:
// request mapping, output, exit codes and error messages, without a real daemon.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "plugvisor/admin/v1/admin.grpc.pb.h"
#include "plugvisor/hooks/v1/hooks.grpc.pb.h"
#include "plugvisorctl/app.h"
#include "plugvisorctl/interrupt.h"

using namespace plugvisor::cli;
using namespace std::chrono_literals;
namespace admin = plugvisor::admin::v1;
namespace hooks = plugvisor::hooks::v1;

namespace {

const bool kUtc = [] {
  setenv("TZ", "UTC", 1);
  tzset();
  return true;
}();

// Waits for the client to go away, which is how a followed stream or a slow call ends here.
void wait_until_cancelled(grpc::ServerContext* context) {
  while (!context->IsCancelled()) std::this_thread::sleep_for(5ms);
}

class FakeAdmin final : public admin::Admin::Service {
 public:
  std::mutex mu;
  std::string last_action;
  admin::WatchEventsRequest last_watch;
  admin::ListReceiptsRequest last_receipts;

  grpc::Status ListPlugins(grpc::ServerContext*, const admin::ListPluginsRequest*,
                           admin::ListPluginsResponse* response) override {
    auto* p = response->add_plugins();
    p->set_id("linkifier");
    p->set_state("ready");
    p->set_pid(7);
    p->set_calls(3);
    p->set_p99_us(812);
    response->mutable_supervisor()->set_version("0.1.0");
    response->mutable_supervisor()->set_database_connected(true);
    return grpc::Status::OK;
  }

  grpc::Status GetPlugin(grpc::ServerContext* context, const admin::PluginRequest* request,
                         admin::PluginResponse* response) override {
    if (request->id() == "slow") {
      wait_until_cancelled(context);
      return grpc::Status::CANCELLED;
    }
    if (request->id() != "linkifier") {
      return {grpc::StatusCode::NOT_FOUND, "no plugin '" + request->id() + "'"};
    }
    response->mutable_plugin()->set_id("linkifier");
    response->mutable_plugin()->set_state("ready");
    return grpc::Status::OK;
  }

  grpc::Status Enable(grpc::ServerContext*, const admin::PluginRequest* request,
                      admin::PluginResponse* response) override {
    return act("enable", *request, "starting", true, response);
  }
  grpc::Status Disable(grpc::ServerContext*, const admin::PluginRequest* request,
                       admin::PluginResponse* response) override {
    return act("disable", *request, "disabled", false, response);
  }
  grpc::Status Restart(grpc::ServerContext*, const admin::PluginRequest* request,
                       admin::PluginResponse* response) override {
    return act("restart", *request, "starting", true, response);
  }

  grpc::Status WatchEvents(grpc::ServerContext* context, const admin::WatchEventsRequest* request,
                           grpc::ServerWriter<admin::Event>* writer) override {
    {
      std::lock_guard lock(mu);
      last_watch = *request;
    }
    for (uint32_t i = 0; i < std::min<uint32_t>(request->replay(), 3); ++i) {
      admin::Event e;
      e.set_at_unix_ms(1'714'567'384'000 + i);
      e.set_plugin_id("linkifier");
      e.set_kind("state");
      e.set_state("ready");
      e.set_detail_json(R"({"n": )" + std::to_string(i) + "}");
      writer->Write(e);
    }
    if (request->follow()) wait_until_cancelled(context);
    return grpc::Status::OK;
  }

  grpc::Status ListReceipts(grpc::ServerContext*, const admin::ListReceiptsRequest* request,
                            admin::ListReceiptsResponse* response) override {
    {
      std::lock_guard lock(mu);
      last_receipts = *request;
    }
    if (request->plugin_id() == "dbdown") {
      return {grpc::StatusCode::UNAVAILABLE, "database connection lost"};
    }
    auto* r = response->add_receipts();
    r->set_dispatch_id("abcdef0123456789");
    r->set_plugin_id("linkifier");
    r->set_hook("message.enrich");
    r->set_status("ok");
    r->set_duration_us(80);
    r->set_at_unix_ms(1'714'567'384'000);
    if (request->cursor().empty()) response->set_next_cursor("page2");
    return grpc::Status::OK;
  }

 private:
  grpc::Status act(const char* name, const admin::PluginRequest& request, const char* state,
                   bool enabled, admin::PluginResponse* response) {
    std::lock_guard lock(mu);
    last_action = std::string(name) + " " + request.id();
    response->mutable_plugin()->set_id(request.id());
    response->mutable_plugin()->set_state(state);
    response->mutable_plugin()->set_enabled(enabled);
    return grpc::Status::OK;
  }
};

class FakeHooks final : public hooks::Hooks::Service {
 public:
  std::mutex mu;
  hooks::DispatchRequest last;

  grpc::Status Dispatch(grpc::ServerContext*, const hooks::DispatchRequest* request,
                        hooks::DispatchResponse* response) override {
    {
      std::lock_guard lock(mu);
      last = *request;
    }
    response->set_dispatch_id("d1");
    response->set_data_json(request->data_json());
    if (request->hook() == "tool.pre_exec") {
      response->set_blocked(true);
      response->set_blocked_by("policy-guard");
      response->set_reason("denied");
    }
    return grpc::Status::OK;
  }
};

// Both services on one listener, as plugvisord serves them.
struct FakeDaemon {
  FakeAdmin admin_service;
  FakeHooks hooks_service;
  std::unique_ptr<grpc::Server> server;
  std::string address;

  explicit FakeDaemon(const std::string& listen = "127.0.0.1:0") {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&admin_service);
    builder.RegisterService(&hooks_service);
    server = builder.BuildAndStart();
    REQUIRE(server);
    address = listen.starts_with("unix:") ? listen : "127.0.0.1:" + std::to_string(port);
  }
  ~FakeDaemon() { server->Shutdown(std::chrono::system_clock::now() + 1s); }
};

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args, const std::string& stdin_text = "") {
  args.insert(args.begin(), "plugvisorctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  Io io{in, out, err};
  const int code = run_cli(static_cast<int>(argv.size()), argv.data(), io);
  return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("status prints the table and the supervisor line") {
  REQUIRE(kUtc);
  FakeDaemon d;
  auto r = run({"--address", d.address, "status"});
  CHECK(r.code == kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("PLUGIN     VERSION  STATE  PID"));
  CHECK_THAT(r.out, Catch::Contains("linkifier  -        ready    7"));
  CHECK_THAT(r.out, Catch::Contains("812µs\n\nsupervisor: plugvisord 0.1.0"));
  CHECK(r.err.empty());
}

TEST_CASE("global options work after the command and from the environment") {
  FakeDaemon d;
  auto r = run({"status", "--json", "--address", d.address});
  CHECK(r.code == kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith(R"({"plugins":[{"id":"linkifier")"));

  setenv("PLUGVISOR_ADDRESS", d.address.c_str(), 1);
  auto env = run({"status"});
  unsetenv("PLUGVISOR_ADDRESS");
  CHECK(env.code == kExitOk);
}

TEST_CASE("a unix socket address works") {
  const std::string path = "/tmp/plugvisorctl-test-" + std::to_string(getpid()) + ".sock";
  FakeDaemon d("unix:" + path);
  auto r = run({"--address", "unix:" + path, "plugin", "get", "linkifier"});
  CHECK(r.code == kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("id:              linkifier\n"));
  std::remove(path.c_str());
}

TEST_CASE("an unreachable daemon is exit 1 with the address in the message") {
  auto r = run({"--address", "unix:/nonexistent/plugvisord.sock", "status"});
  CHECK(r.code == kExitError);
  CHECK_THAT(r.err, Catch::StartsWith("plugvisorctl: cannot reach plugvisord at "
                                      "unix:/nonexistent/plugvisord.sock: "));
  CHECK(r.out.empty());
}

TEST_CASE("an unknown plugin is NOT_FOUND, printed plainly") {
  FakeDaemon d;
  auto r = run({"--address", d.address, "plugin", "get", "nope"});
  CHECK(r.code == kExitError);
  CHECK(r.err == "plugvisorctl: plugin get: NOT_FOUND: no plugin 'nope'\n");
}

TEST_CASE("UNAVAILABLE from a reachable daemon is not reported as unreachable") {
  FakeDaemon d;
  auto r = run({"--address", d.address, "receipts", "--plugin", "dbdown"});
  CHECK(r.code == kExitError);
  CHECK(r.err == "plugvisorctl: receipts: UNAVAILABLE: database connection lost\n");
}

TEST_CASE("--timeout bounds unary calls") {
  FakeDaemon d;
  const auto start = std::chrono::steady_clock::now();
  auto r = run({"--address", d.address, "--timeout", "0.2", "plugin", "get", "slow"});
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(r.code == kExitError);
  CHECK_THAT(r.err, Catch::StartsWith("plugvisorctl: plugin get: DEADLINE_EXCEEDED: "));
}

TEST_CASE("enable, disable and restart call their RPC and print the state line") {
  FakeDaemon d;
  auto r = run({"--address", d.address, "disable", "redactor"});
  CHECK(r.code == kExitOk);
  CHECK(r.out == "redactor: disabled, disabled\n");
  CHECK(d.admin_service.last_action == "disable redactor");
  CHECK(run({"--address", d.address, "enable", "redactor"}).out == "redactor: starting\n");
  CHECK(d.admin_service.last_action == "enable redactor");
  CHECK(run({"--address", d.address, "restart", "x"}).code == kExitOk);
  CHECK(d.admin_service.last_action == "restart x");
}

TEST_CASE("events: replay with filters, one line per event") {
  FakeDaemon d;
  auto r = run({"--address", d.address, "events", "--plugin", "linkifier", "--kind", "sta"});
  CHECK(r.code == kExitOk);
  CHECK(r.out ==
        "2024-05-01T12:43:04.000Z  linkifier         state           ready         {\"n\":0}\n"
        "2024-05-01T12:43:04.001Z  linkifier         state           ready         {\"n\":1}\n"
        "2024-05-01T12:43:04.002Z  linkifier         state           ready         {\"n\":2}\n");
  CHECK(d.admin_service.last_watch.plugin_id() == "linkifier");
  CHECK(d.admin_service.last_watch.kind_prefix() == "sta");
  CHECK(d.admin_service.last_watch.replay() == 20);
  CHECK_FALSE(d.admin_service.last_watch.follow());

  auto json = run({"--address", d.address, "--json", "events", "--replay", "2"});
  CHECK(d.admin_service.last_watch.replay() == 2);
  CHECK(std::count(json.out.begin(), json.out.end(), '\n') == 2);
  CHECK_THAT(json.out, Catch::StartsWith(R"({"id":"","atUnixMs":"1714567384000")"));
}

TEST_CASE("events --follow: an interrupt cancels the stream cleanly") {
  FakeDaemon d;
  InterruptCanceller canceller;
  auto stub =
      admin::Admin::NewStub(grpc::CreateChannel(d.address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  admin::WatchEventsRequest request;
  request.set_replay(1);
  request.set_follow(true);
  auto reader = stub->WatchEvents(&context, request);
  canceller.arm(&context);
  admin::Event e;
  REQUIRE(reader->Read(&e));
  // Directed at the watcher, which is what a terminal's SIGINT reaches in plugvisorctl.
  pthread_kill(canceller.watcher_handle(), SIGINT);
  CHECK_FALSE(reader->Read(&e));
  CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
  canceller.arm(nullptr);
  CHECK(canceller.interrupted());
}

TEST_CASE("receipts: filters are passed, the next cursor is printed") {
  FakeDaemon d;
  auto r = run({"--address", d.address, "receipts", "--plugin", "linkifier", "--hook",
                "message.enrich", "--dispatch", "abc", "--limit", "5"});
  CHECK(r.code == kExitOk);
  CHECK_THAT(r.out, Catch::Contains("abcdef01  linkifier  message.enrich  ok"));
  CHECK_THAT(r.out, Catch::EndsWith("\nnext: --cursor page2\n"));
  const auto& q = d.admin_service.last_receipts;
  CHECK(q.plugin_id() == "linkifier");
  CHECK(q.hook() == "message.enrich");
  CHECK(q.dispatch_id() == "abc");
  CHECK(q.limit() == 5);

  auto last = run({"--address", d.address, "receipts", "--cursor", "page2"});
  CHECK(d.admin_service.last_receipts.cursor() == "page2");
  CHECK(d.admin_service.last_receipts.limit() == 0);
  CHECK_THAT(last.out, !Catch::Contains("next:"));
}

TEST_CASE("dispatch: context, data and exit code 3 when blocked") {
  FakeDaemon d;
  auto r = run({"--address", d.address, "dispatch", "tool.pre_exec", "--data", R"({"tool":"sh"})",
                "--tenant", "t1", "--work-item", "w1", "--run", "r1", "--budget-ms", "500"});
  CHECK(r.code == kExitBlocked);
  CHECK_THAT(r.out,
             Catch::StartsWith("{\n  \"tool\": \"sh\"\n}\nblocked by policy-guard: denied\n"));
  const auto& q = d.hooks_service.last;
  CHECK(q.hook() == "tool.pre_exec");
  CHECK(q.data_json() == R"({"tool":"sh"})");
  CHECK(q.context().tenant_id() == "t1");
  CHECK(q.context().work_item_id() == "w1");
  CHECK(q.context().run_id() == "r1");
  CHECK(q.budget_ms() == 500);

  auto ok = run({"--address", d.address, "dispatch", "message.enrich", "--data", "-"}, "[1]");
  CHECK(ok.code == kExitOk);
  CHECK(ok.out == "[\n  1\n]\n\nno handlers ran\n");
}

TEST_CASE("dispatch: invalid data is rejected locally, before any call") {
  FakeDaemon d;
  auto r = run({"--address", d.address, "dispatch", "message.enrich", "--data", "{oops"});
  CHECK(r.code == kExitUsage);
  CHECK_THAT(r.err, Catch::StartsWith("plugvisorctl: dispatch: invalid JSON in --data (inline): "
                                      "parse error at line 1, column 2"));
  CHECK(d.hooks_service.last.hook().empty());

  auto missing = run({"--address", d.address, "dispatch", "x", "--data", "@/nonexistent.json"});
  CHECK(missing.code == kExitUsage);
  CHECK_THAT(missing.err, Catch::Contains("'/nonexistent.json': No such file or directory"));
}

TEST_CASE("usage errors are exit 2; help is exit 0") {
  CHECK(run({}).code == kExitUsage);
  CHECK(run({"bogus"}).code == kExitUsage);
  CHECK(run({"status", "--nope"}).code == kExitUsage);
  CHECK(run({"plugin", "get"}).code == kExitUsage);
  CHECK(run({"dispatch", "tool.pre_exec"}).code == kExitUsage);
  CHECK(run({"receipts", "--limit", "0"}).code == kExitUsage);
  CHECK(run({"--timeout", "-1", "status"}).code == kExitUsage);

  auto bad = run({"--address", "localhost", "status"});
  CHECK(bad.code == kExitUsage);
  CHECK_THAT(bad.err, Catch::Contains("host:port or unix:/path"));

  auto help = run({"--help"});
  CHECK(help.code == kExitOk);
  CHECK_THAT(help.out, Catch::Contains("dispatch"));
  CHECK_THAT(help.out, Catch::Contains("PLUGVISOR_ADDRESS"));
}
