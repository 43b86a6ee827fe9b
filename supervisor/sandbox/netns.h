// One empty network namespace that every sandboxed plugin joins instead of creating its own.
//
// Creating a network namespace per plugin costs about 0.5 ms at clone (and more later, when
// the kernel tears it down in the background). Sharing one is safe only because nothing in it
// can be used to reach a neighbour: seccomp allows no socket family but AF_UNIX, pathname
// sockets live in the filesystem (Landlock), and abstract unix names, the one thing a network
// namespace would still share, are scoped by Landlock ABI 6 to each plugin's own domain. On an
// older kernel every plugin keeps its own namespace.
//
// The namespace lives as long as plugvisord holds its fd (and any plugin is inside): no bind
// mount to leak when plugvisord is killed.
#pragma once

#include "plugvisor/common/result.h"
#include "plugvisor/common/unique_fd.h"
#include "sandbox/mechanisms.h"

namespace plugvisor::sandbox {

// Landlock's abstract-unix-socket scope arrived with ABI 6.
constexpr int kLandlockAbiAbstractScope = 6;

// Whether plugins may share one empty network namespace on this machine.
bool can_share_netns(const Mechanisms& m);

// A new empty network namespace (only `lo`, down). Needs CAP_SYS_ADMIN.
Result<UniqueFd> make_empty_netns();

}  // namespace plugvisor::sandbox
