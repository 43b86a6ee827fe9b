// plugvisor-linkifier: turns issue keys and URLs in a message into enrichments.
#include <plugvisor/sdk/plugin.h>

#include "linkifier.h"

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin("linkifier", PLUGVISOR_EXAMPLE_VERSION);
  plugvisor::examples::linkifier::install(plugin);
  return plugin.run(argc, argv);
}
