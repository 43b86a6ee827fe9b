// plugvisor-redactor: masks API keys, tokens and e-mail addresses in tool output and replies.
#include <plugvisor/sdk/plugin.h>

#include "redactor.h"

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin("redactor", PLUGVISOR_EXAMPLE_VERSION);
  plugvisor::examples::redactor::install(plugin);
  return plugin.run(argc, argv);
}
