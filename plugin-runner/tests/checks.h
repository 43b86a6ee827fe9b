// The driver's checks (checks.cc).
#pragma once

namespace plugvisor::runner_test {

// Runs the checks (only the echo-fixture smoke test if `smoke_only`); returns the failures.
int run_checks(bool smoke_only);

}  // namespace plugvisor::runner_test
