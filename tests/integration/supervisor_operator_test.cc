// What an operator sees of a real plugvisord: grpc.health.v1 per plugin, server reflection, and
// plugvisorctl's commands.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "pg_cluster.h"
#include "supervisor_harness.h"

using namespace plugvisor::testsupport;
namespace health = grpc::health::v1;

namespace {

std::string two_plugins() {
  return fast_defaults_yaml() + "plugins:\n" +
         fixture("alpha", "echo", {{"tool.pre_exec", "priority: 10, fail_policy: fail_closed"}}) +
         fixture("beta", "echo", {{"message.enrich", ""}});
}

health::HealthCheckResponse::ServingStatus check(Supervisor& sup, const std::string& service) {
  auto channel = grpc::CreateChannel("unix:" + sup.dir() + "/api.sock",
                                     grpc::InsecureChannelCredentials());
  auto stub = health::Health::NewStub(channel);
  health::HealthCheckRequest req;
  req.set_service(service);
  health::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto s = stub->Check(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return health::HealthCheckResponse::SERVICE_UNKNOWN;
  REQUIRE(s.ok());
  return resp.status();
}

CommandResult ctl(Supervisor& sup, const std::string& args) {
  return run_command(build_path("cli/plugvisorctl") + " --address unix:" + sup.dir() +
                     "/api.sock " + args);
}

}  // namespace

TEST_CASE("grpc.health.v1 reports each plugin, NOT_SERVING while it is disabled") {
  auto sup = Supervisor::start(two_plugins(), fresh_database(shared_cluster()));
  sup->wait_for_state("alpha", "ready");
  sup->wait_for_state("beta", "ready");
  CHECK(check(*sup, "") == health::HealthCheckResponse::SERVING);
  CHECK(check(*sup, "plugvisor.plugin.alpha") == health::HealthCheckResponse::SERVING);
  CHECK(check(*sup, "plugvisor.plugin.nobody") == health::HealthCheckResponse::SERVICE_UNKNOWN);

  auto r = ctl(*sup, "disable alpha");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  sup->wait_for_state("alpha", "disabled");
  CHECK(check(*sup, "plugvisor.plugin.alpha") == health::HealthCheckResponse::NOT_SERVING);
  CHECK(check(*sup, "plugvisor.plugin.beta") == health::HealthCheckResponse::SERVING);

  // An operator's disable skips the plugin, fail_closed or not.
  auto resp = sup->dispatch("tool.pre_exec", R"({"tool": "x"})");
  CHECK_FALSE(resp.blocked());
  REQUIRE(resp.receipts_size() == 1);
  CHECK(resp.receipts(0).status() == "skipped");
  CHECK(resp.receipts(0).error_code() == "DISABLED");

  CHECK(ctl(*sup, "enable alpha").exit_code == 0);
  sup->wait_for_state("alpha", "ready");
  CHECK(check(*sup, "plugvisor.plugin.alpha") == health::HealthCheckResponse::SERVING);
}

TEST_CASE("server reflection lists the hooks and admin services") {
  auto sup = Supervisor::start(fast_defaults_yaml() + "plugins: []\n",
                               fresh_database(shared_cluster()));
  auto channel = grpc::CreateChannel("unix:" + sup->dir() + "/api.sock",
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("*");
  REQUIRE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  REQUIRE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  CHECK_THAT(names, Catch::VectorContains(std::string("plugvisor.hooks.v1.Hooks")));
  CHECK_THAT(names, Catch::VectorContains(std::string("plugvisor.admin.v1.Admin")));
  CHECK_THAT(names, Catch::VectorContains(std::string("grpc.health.v1.Health")));
}

TEST_CASE("plugvisorctl drives a real plugvisord") {
  auto sup = Supervisor::start(two_plugins(), fresh_database(shared_cluster()));
  sup->wait_for_state("alpha", "ready");
  sup->wait_for_state("beta", "ready");

  auto status = ctl(*sup, "status");
  INFO(status.output);
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.output, Catch::Contains("alpha") && Catch::Contains("beta") &&
                                Catch::Contains("ready") && Catch::Contains("database connected"));

  auto get = ctl(*sup, "plugin get alpha");
  INFO(get.output);
  CHECK(get.exit_code == 0);
  CHECK_THAT(get.output, Catch::Contains("tool.pre_exec") && Catch::Contains("fail_closed"));

  auto blocked = ctl(*sup, R"(dispatch tool.pre_exec --data '{"tool": "x", "_block": "not today"}')");
  INFO(blocked.output);
  CHECK(blocked.exit_code == 3);
  CHECK_THAT(blocked.output, Catch::Contains("blocked by alpha") && Catch::Contains("not today"));

  auto bad = ctl(*sup, "dispatch tool.pre_exec --data '{oops'");
  CHECK(bad.exit_code == 2);
  CHECK(ctl(*sup, "plugin get nobody").exit_code == 1);

  // Receipts are written asynchronously; the listing catches up within the flush interval.
  CHECK(eventually([&] { return ctl(*sup, "receipts --plugin alpha").output.find("blocked") != std::string::npos; },
                   std::chrono::seconds(10)));
  auto events = ctl(*sup, "events --plugin beta --replay 50");
  INFO(events.output);
  CHECK(events.exit_code == 0);
  CHECK_THAT(events.output, Catch::Contains("spawn") && Catch::Contains("ready"));

  auto json = ctl(*sup, "status --json");
  auto parsed = nlohmann::json::parse(json.output, nullptr, false);
  REQUIRE(parsed.is_object());
  CHECK(parsed["plugins"].size() == 2);
}
