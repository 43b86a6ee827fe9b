// plugvisorctl's command line: options, subcommands and exit codes (see cli/README.md).
#pragma once

#include "plugvisorctl/commands.h"

namespace plugvisor::cli {

// Parses argv, runs the chosen command and returns the process exit code. Usage errors are
// reported by CLI11 on io.err and return kExitUsage; --help prints to io.out and returns 0.
int run_cli(int argc, const char* const* argv, Io& io);

}  // namespace plugvisor::cli
