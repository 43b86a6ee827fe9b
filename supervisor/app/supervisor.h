#pragma once

#include "app/options.h"
#include "config/config.h"

namespace plugvisor::app {

// Runs plugvisord until SIGTERM/SIGINT; returns the process exit code.
int run_supervisor(config::SupervisorConfig config);

}  // namespace plugvisor::app
