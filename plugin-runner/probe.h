// `plugvisor-runner --probe`: which sandbox mechanisms this machine offers, as one JSON object
// on stdout (plugvisord --check-sandbox and plugvisorctl doctor read it).
#pragma once

namespace plugvisor::runner {

// Prints the report and returns 0; it is a report, not a verdict.
int run_probe();

}  // namespace plugvisor::runner
