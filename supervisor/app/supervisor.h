#pragma once

#include "app/options.h"
#include "config/config.h"

namespace plugvisor::app {

// Runs plugvisord until SIGTERM/SIGINT; returns the process exit code.
int run_supervisor(config::SupervisorConfig config);

// plugvisord --check-sandbox: prints the mechanisms and returns the exit code.
int check_sandbox(config::SupervisorConfig config);

}  // namespace plugvisor::app
