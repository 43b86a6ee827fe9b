// Inside, in the plugin (PID 2) before execve: Landlock, by what the running kernel's ABI has.
#pragma once

#include "spec.h"

namespace plugvisor::runner {

// The kernel's Landlock ABI version, 0 if Landlock is unavailable or disabled.
int landlock_abi();

// Step "landlock": a ruleset handling every filesystem right this ABI knows (so anything not
// granted below is denied), granting
//   ro:   read files, list directories
//   rw:   ro + write, create, remove, truncate (not REFER: no link/rename across directories,
//         no make char/block devices)
//   exec: execute + read
//   root.devices: read + write of those files (/dev/null must be writable)
// plus, from ABI 4, TCP bind and connect denied (deny_tcp), and from ABI 6 the signal and
// abstract unix socket scopes. Paths that do not exist are skipped (e.g. an optional bind).
// From ABI 7, with the spec's log_denials, denials are audit-logged even after the execve.
void apply_landlock(const Spec& spec);

}  // namespace plugvisor::runner
