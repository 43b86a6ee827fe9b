#include "caps.h"

#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "status.h"

namespace plugvisor::runner {

void set_no_new_privs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs", errno);
}

void drop_capabilities(const HostIds* switch_to) {
  // Needs CAP_SETPCAP, so before anything is dropped. NOROOT: execve by uid 0 grants no caps;
  // NO_SETUID_FIXUP: a later setuid cannot restore any; all locked.
  const unsigned long securebits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                   SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (::prctl(PR_SET_SECUREBITS, securebits, 0, 0, 0) != 0) {
    fail("drop_caps", errno, "PR_SET_SECUREBITS");
  }
  // The bounding set caps what any later execve could ever grant. Drop every cap the kernel
  // knows (EINVAL marks the end of the list).
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;
      fail("drop_caps", errno, "PR_CAPBSET_DROP " + std::to_string(cap));
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    fail("drop_caps", errno, "PR_CAP_AMBIENT_CLEAR_ALL");
  }
  if (switch_to != nullptr) {
    // No user namespace: we are host root here, and must become the plugin's own ids.
    if (::setgroups(0, nullptr) != 0) fail("setuid", errno, "setgroups");
    if (::setresgid(switch_to->gid, switch_to->gid, switch_to->gid) != 0) {
      fail("setuid", errno, "setresgid " + std::to_string(switch_to->gid));
    }
    if (::setresuid(switch_to->uid, switch_to->uid, switch_to->uid) != 0) {
      fail("setuid", errno, "setresuid " + std::to_string(switch_to->uid));
    }
  }
  // glibc has no capset wrapper; the raw call with v3 headers and zeroed data clears all three.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) fail("drop_caps", errno, "capset");
}

}  // namespace plugvisor::runner
