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
  const bool ok = out.forbidden_paths == std::vector<std::string>{"/secret"} &&
                  out.invalid_output.has_value() && out.data["content"] == "hi";
  std::cout << (ok ? "harness ok" : "harness FAILED") << "\n";
  return ok ? 0 : 1;
}
