// plugvisor-summariser: keeps a running AI summary of each work item's delivered responses.
#include <plugvisor/sdk/plugin.h>

#include "summariser.h"

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin("summariser", PLUGVISOR_EXAMPLE_VERSION);
  plugvisor::examples::summariser::install(plugin);
  return plugin.run(argc, argv);
}
