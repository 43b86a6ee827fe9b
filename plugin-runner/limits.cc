#include "limits.h"

#include <sys/resource.h>

#include <cerrno>
#include <string>

#include "status.h"

namespace plugvisor::runner {

namespace {

void set_limit(int resource, uint64_t value, const char* name, uint64_t hard_extra = 0) {
  const struct rlimit rl = {static_cast<rlim_t>(value), static_cast<rlim_t>(value + hard_extra)};
  if (::setrlimit(resource, &rl) != 0) {
    fail("rlimits", errno, std::string(name) + "=" + std::to_string(value));
  }
}

}  // namespace

void apply_rlimits(const Rlimits& limits, bool apply) {
  set_limit(RLIMIT_CORE, 0, "core");
  if (!apply) return;
  if (limits.nofile != 0) set_limit(RLIMIT_NOFILE, limits.nofile, "nofile");
  // Counted per uid (in this user namespace): the plugin's processes and threads.
  if (limits.nproc != 0) set_limit(RLIMIT_NPROC, limits.nproc, "nproc");
  // Hard one second above soft: the kernel sends SIGXCPU at the soft limit, which tells "CPU
  // limit" apart from any other SIGKILL; the hard limit still ends a plugin that catches it.
  if (limits.cpu_seconds != 0) set_limit(RLIMIT_CPU, limits.cpu_seconds, "cpu_seconds", 1);
  if (limits.fsize_bytes != 0) set_limit(RLIMIT_FSIZE, limits.fsize_bytes, "fsize_bytes");
}

}  // namespace plugvisor::runner
