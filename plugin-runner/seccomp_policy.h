// Inside, in the plugin (PID 2), the very last step before execve: the seccomp allowlist.
#pragma once

#include <seccomp.h>

#include <cstdint>
#include <string>

namespace plugvisor::runner {

// The policy as libseccomp builds it, with `deny` as the default (and bad-arch) action.
// Building costs ~0.7 ms of CPU, so the runner does not do it per spawn: the build runs
// plugvisor-runner-seccomp-gen, which exports the BPF programs into seccomp_filters.inc, and
// seccomp_filter.cc loads those (see install_seccomp in seccomp_filter.h).
scmp_filter_ctx build_seccomp_policy(bool allow_spawn, uint32_t deny);

// "ptrace", or "syscall_<nr>" if libseccomp does not know the number on that architecture.
std::string syscall_name(uint32_t audit_arch, int nr);

// True if `audit_arch` is the architecture this runner (and so the plugin) was built for.
bool is_native_arch(uint32_t audit_arch);

// The policy as libseccomp's pseudo-filter code (PFC), for reviewing it:
// `plugvisor-runner --print-seccomp [--allow-spawn]`.
void print_seccomp_policy(bool allow_spawn, int fd);

}  // namespace plugvisor::runner
