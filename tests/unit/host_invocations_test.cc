// Invocation tokens: issued per invocation, accepted only from the plugin they were issued to
// and only while the invocation is in flight.
#include <catch2/catch.hpp>
#include <set>

#include "host/invocations.h"

using plugvisor::host::CallScope;
using plugvisor::host::InvocationRegistry;
using plugvisor::hostcall::Code;

namespace {

CallScope scope(const std::string& plugin, const std::string& tenant) {
  CallScope s;
  s.plugin_id = plugin;
  s.tenant_id = tenant;
  s.invocation_id = "inv-" + plugin;
  s.hook = "tool.pre_exec";
  return s;
}

}  // namespace

TEST_CASE("a live token resolves to its invocation's scope, for its own plugin only") {
  InvocationRegistry registry;
  auto a = registry.issue(scope("alpha", "tenant-a"));
  auto b = registry.issue(scope("beta", "tenant-b"));
  REQUIRE(a.token() != b.token());

  auto mine = registry.resolve("alpha", a.token());
  REQUIRE(mine.ok());
  CHECK(mine->tenant_id == "tenant-a");
  CHECK(mine->in_invocation());

  // beta's token, live, presented by alpha: refused, and in words that say nothing about beta.
  auto stolen = registry.resolve("alpha", b.token());
  REQUIRE_FALSE(stolen.ok());
  CHECK(stolen.error().code == Code::permission_denied);
  CHECK(stolen.error().permission == "invocation_token");
  CHECK(stolen.error().message.find("beta") == std::string::npos);
  CHECK(stolen.error().message == registry.resolve("alpha", "it_forged").error().message);
}

TEST_CASE("a token dies with its ticket; an empty token is the plugin's own tenant-less scope") {
  InvocationRegistry registry;
  std::string token;
  {
    auto ticket = registry.issue(scope("alpha", "tenant-a"));
    token = ticket.token();
    CHECK(registry.live() == 1);
    auto moved = std::move(ticket);  // a move keeps it alive
    CHECK(registry.resolve("alpha", token).ok());
  }
  CHECK(registry.live() == 0);
  CHECK(registry.resolve("alpha", token).error().code == Code::permission_denied);

  auto own = registry.resolve("alpha", "");
  REQUIRE(own.ok());
  CHECK(own->plugin_id == "alpha");
  CHECK(own->tenant_id.empty());
  CHECK_FALSE(own->in_invocation());
}

TEST_CASE("tokens are long and unpredictable") {
  InvocationRegistry registry;
  std::set<std::string> seen;
  std::vector<InvocationRegistry::Ticket> tickets;
  for (int i = 0; i < 1000; ++i) {
    tickets.push_back(registry.issue(scope("alpha", "t")));
    CHECK(tickets.back().token().size() >= 64);
    seen.insert(tickets.back().token());
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("a finished invocation's token stays good for Log only, for its own plugin only") {
  InvocationRegistry registry;
  std::string token;
  {
    auto ticket = registry.issue(scope("alpha", "tenant-a"));
    token = ticket.token();
  }
  // Every other host call: refused once the invocation has answered.
  CHECK(registry.resolve("alpha", token).error().code == Code::permission_denied);
  // Log: its trailing records still count for the invocation, tenant and all, with no deadline.
  auto trailing = registry.resolve("alpha", token, /*finished_ok=*/true);
  REQUIRE(trailing.ok());
  CHECK(trailing->invocation_id == "inv-alpha");
  CHECK(trailing->tenant_id == "tenant-a");
  CHECK(trailing->deadline == std::chrono::steady_clock::time_point::max());
  CHECK(registry.resolve("beta", token, true).error().code == Code::permission_denied);
  CHECK(registry.resolve("alpha", "it_forged", true).error().code == Code::permission_denied);
}

TEST_CASE("only the last finished tokens are remembered") {
  InvocationRegistry registry;
  std::string first;
  {
    auto ticket = registry.issue(scope("alpha", "t"));
    first = ticket.token();
  }
  for (size_t i = 0; i < InvocationRegistry::kMaxFinished; ++i) {
    registry.issue(scope("alpha", "t"));  // issued and revoked at once
  }
  CHECK(registry.resolve("alpha", first, true).error().code == Code::permission_denied);
}
