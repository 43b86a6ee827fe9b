// Inside, in the plugin (PID 2) before execve: giving up every privilege for good.
#pragma once

#include <sys/types.h>

namespace plugvisor::runner {

// Step "no_new_privs": execve can never grant privileges again (setuid bits, file caps), and
// Landlock and seccomp may then be installed without CAP_SYS_ADMIN.
void set_no_new_privs();

// Step "drop_caps": lock the securebits so that uid 0 (which the plugin is inside its user
// namespace) means nothing on execve, empty the bounding set, clear the ambient set, then the
// effective, permitted and inheritable sets. With `switch_to` (no user namespace: we are still
// host root) the ids change to the plugin's own host uid/gid in between (step "setuid").
struct HostIds {
  uid_t uid;
  gid_t gid;
};
void drop_capabilities(const HostIds* switch_to);

}  // namespace plugvisor::runner
