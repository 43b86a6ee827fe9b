// Inside, in the plugin (PID 2), the very last step before execve: loading the seccomp policy.
#pragma once

#include "spec.h"

namespace plugvisor::runner {

// Step "seccomp": loads the policy of seccomp_policy.cc, precompiled at build time (see
// build_seccomp_policy), for seccomp.allow_spawn or not. A syscall outside it raises a user
// notification; the returned listener fd goes to the init, which kills the plugin and reports
// the syscall. If the kernel refuses a listener (one already watches this process: a nested
// sandbox), the same program is loaded with SECCOMP_RET_KILL_PROCESS in place of every
// SECCOMP_RET_USER_NOTIF, and -1 is returned.
int install_seccomp(const Spec& spec);

}  // namespace plugvisor::runner
