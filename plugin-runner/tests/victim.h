// The driver's "victim" mode: run inside the sandbox as the plugin, try one thing, print what
// happened on stdout ("key=value" lines) and exit 0 (unless the sandbox stops it first).
#pragma once

#include <string>

namespace plugvisor::runner_test {

int victim_main(const std::string& action);

}  // namespace plugvisor::runner_test
