// plugvisor-policy-guard: blocks shell tool calls whose command matches a deny list.
#include <plugvisor/sdk/plugin.h>

#include "policy_guard.h"

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin("policy-guard", PLUGVISOR_EXAMPLE_VERSION);
  plugvisor::examples::policy_guard::install(plugin);
  return plugin.run(argc, argv);
}
