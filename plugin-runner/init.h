// Inside the sandbox: the init (PID 1 of the new pid namespace) and the plugin it forks.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "spec.h"

namespace plugvisor::runner {

// How the plugin ended, sent by the init to the runner over the report pipe when the plugin
// (PID 2) has been reaped. Both ends are this binary, so a plain struct is the wire format.
struct ExitRecord {
  static constexpr int32_t kExited = 1;
  static constexpr int32_t kSignaled = 2;
  int32_t kind = 0;
  int32_t value = 0;          // exit code, or signal number
  int32_t syscall = -1;       // with kSignaled: the denied syscall (seccomp), else -1
  uint32_t syscall_arch = 0;  // AUDIT_ARCH_* of that syscall
};

// The fds the init inherits from the runner's clone; all close-on-exec.
struct InitFds {
  int startup_w;  // step failures (init and plugin); EOF once the plugin has exec'd
  int report_w;   // one ExitRecord
  int release_r;  // a byte once the runner has written our id maps; EOF if it failed
};

// Runs in the child of the runner's clone: steps setuid, mount_private .. remount_root_ro,
// hostname, init, fork; then reaps until the plugin ends and reports it. Never returns.
[[noreturn]] void run_init(const Spec& spec, const InitFds& fds) noexcept;

// Runs in the init's child, the plugin-to-be (PID 2): steps rlimits, no_new_privs, drop_caps,
// landlock, seccomp, execve. `listener_socket` (or -1) carries the seccomp listener to the init.
[[noreturn]] void run_plugin(const Spec& spec, pid_t init_pid, int listener_socket) noexcept;

// The signals the runner and the init pass on to the plugin: how plugvisord (which signals
// the runner's process group) stops it, gracefully (TERM/INT) or otherwise.
void forwarded_signals(sigset_t* set);

}  // namespace plugvisor::runner
