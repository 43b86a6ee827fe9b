// Inside, in the plugin (PID 2) before execve: resource limits.
#pragma once

#include "spec.h"

namespace plugvisor::runner {

// Step "rlimits": RLIMIT_CORE is always 0 (a core dump would write the plugin's memory, maybe
// secrets, somewhere on the host); the others are set (soft = hard) where the spec gives a
// non-zero value. `apply` false: core only (mechanisms.rlimits off).
void apply_rlimits(const Rlimits& limits, bool apply);

}  // namespace plugvisor::runner
