// Inside the init (PID 1, in the new user and mount namespaces): the plugin's minimal root.
#pragma once

#include "spec.h"

namespace plugvisor::runner {

// Steps mount_private, root_tmpfs, binds, devices, tmp, proc, symlinks, pivot_root and
// umount_old, in that order: afterwards "/" is a small tmpfs holding only what the spec names,
// the host's tree is gone from this namespace and the cwd is "/".
void enter_new_root(const Spec& spec);

// Step remount_root_ro: once everything is mounted, the root itself becomes read-only.
void seal_root();

}  // namespace plugvisor::runner
