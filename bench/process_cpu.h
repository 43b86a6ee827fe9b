// CPU time of a process tree, read from /proc: what the processes behind a channel spent on a
// slice of calls. On a shared machine CPU per call moves far less than wall time does, and at
// concurrency 16 it is what caps throughput.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::bench {

// User + system time of every process in the trees rooted at `roots` (each root and all its
// descendants, found by parent pid), including children they have already reaped, so that a
// short-lived helper's CPU is not lost. Clock-tick resolution (10 ms on Linux).
Result<std::chrono::nanoseconds> tree_cpu_time(const std::vector<pid_t>& roots);

// Context switches on the whole machine since boot (/proc/stat's ctxt). Per call, it counts the
// thread wake-ups a row's processes (and its client) need: each costs far more than the work
// around it on a virtual machine, and unlike time it barely depends on what else is running.
Result<uint64_t> machine_context_switches();

}  // namespace plugvisor::bench
