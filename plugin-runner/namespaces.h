// Outside the sandbox: the clone that creates the namespaces, and the id maps the runner (still
// host root) writes for the child so that it becomes its own non-root host uid/gid.
#pragma once

#include <sys/types.h>

#include <string>

#include "spec.h"

namespace plugvisor::runner {

// CLONE_NEW* for every namespace the spec asks for.
int clone_flags(const Namespaces& ns);

// clone(2) with `flags` and SIGCHLD and no new stack: fork semantics, so the child simply
// continues in this (single-threaded) program. Returns 0 in the child, the child's pid here.
pid_t clone_process(int flags);

// Step "netns": joins the network namespace at `path` (an inherited fd as /proc/self/fd/N, or
// a bind mount of /proc/PID/ns/net), so that the clone need not create one. Only ever an empty
// one plugvisord prepared.
void join_netns(const std::string& path);

// `plugvisor-runner --make-netns PATH`: creates an empty network namespace (only a loopback
// interface, down) and keeps it alive by bind-mounting it on PATH (created if missing), for
// plugvisord to name in every spec's "netns". Returns the exit code; errors go to stderr.
int make_netns(const std::string& path);

// setgroups=deny, uid_map "0 <host_uid> 1", gid_map "0 <host_gid> 1" for `child`.
// Fails with step "uid_map".
void write_id_maps(pid_t child, uid_t host_uid, gid_t host_gid);

}  // namespace plugvisor::runner
