// The runner's own part of the sandboxed mode (--spec-fd): everything outside the namespaces.
#pragma once

#include <sys/types.h>

namespace plugvisor::runner {

struct SandboxArgs {
  pid_t expect_parent = 0;  // 0: do not check
  int spec_fd = -1;
  int status_fd = -1;  // -1: failures go to stderr only
};

// Steps read_spec, pdeathsig, setsid, close_fds, cgroup_join, setgroups, clone, uid_map; then
// waits for the init, reports {"exec":"ok"} or the failed step, then the plugin's exit, and
// exits the way the plugin did. Never returns.
[[noreturn]] void run_sandboxed(const SandboxArgs& args);

}  // namespace plugvisor::runner
