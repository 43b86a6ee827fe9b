// Uses the installed test harness without a test framework: exit 0 iff the checks hold.
#include <plugvisor/sdk/testing.h>

#include <iostream>

namespace sdk = plugvisor::sdk;

int main() {
  sdk::Plugin plugin("shouter", "1.0.0");
  plugin.on("response.pre_deliver", [](sdk::Context&, const sdk::Json&) {
    return sdk::Result::patch({{"content", "HI"}, {"secret", 1}});
  });
  sdk::testing::Harness harness(plugin);
  auto out = harness.invoke("response.pre_deliver", {{"content", "hi"}});
  bool ok = out.forbidden_paths == std::vector<std::string>{"/secret"} &&
            out.invalid_output.has_value() && out.data["content"] == "hi";

  // The in-memory host, with the supervisor's checks linked in from the installed package.
  sdk::Plugin caller("caller", "1.0.0");
  caller.on("response.pre_deliver", [](sdk::Context& ctx, const sdk::Json&) {
    (void)ctx.emit("plugin.someone-else.x");
    (void)ctx.fetch({.url = "https://example.com/"});  // *.example.com is below it only
    ctx.log().warn("denied twice", {{"n", 2}});
    return sdk::Result::proceed();
  });
  sdk::testing::Harness host_harness(caller);
  host_harness.host().allow_network("*.example.com");
  const auto logged = host_harness.invoke("response.pre_deliver", {{"content", "hi"}}).logs;
  const auto denials = host_harness.host().denials();
  ok = ok && denials.size() == 2 && denials[0].permission == "events" &&
       denials[1].permission == "network";
  ok =
      ok && logged.size() == 1 && logged[0].message == "denied twice" && logged[0].fields["n"] == 2;
  std::cout << (ok ? "harness ok" : "harness FAILED") << "\n";
  return ok ? 0 : 1;
}
