#include "sandbox/netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>
#include <thread>

namespace plugvisor::sandbox {

bool can_share_netns(const Mechanisms& m) {
  return m.has("net_ns") && m.has("landlock") && m.landlock_abi >= kLandlockAbiAbstractScope;
}

Result<UniqueFd> make_empty_netns() {
  // unshare(CLONE_NEWNET) moves only the calling thread, so a throwaway thread does it and
  // hands back an fd to its new namespace; the rest of plugvisord never leaves the host's.
  Result<UniqueFd> out = Error{"not run"};
  std::thread([&out] {
    if (::unshare(CLONE_NEWNET) != 0) {
      out = Error::errno_error("unshare(CLONE_NEWNET)", errno);
      return;
    }
    UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!fd) {
      out = Error::errno_error("open /proc/thread-self/ns/net", errno);
      return;
    }
    out = std::move(fd);
  }).join();
  return out;
}

}  // namespace plugvisor::sandbox
