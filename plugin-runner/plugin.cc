// The plugin-to-be (PID 2), forked by the init: gives up everything it will not need, in an
// order where each step still has what it requires (caps for securebits, no_new_privs for
// Landlock and seccomp), installs seccomp last, and execs the plugin.
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "caps.h"
#include "init.h"
#include "landlock.h"
#include "limits.h"
#include "seccomp_filter.h"
#include "status.h"

namespace plugvisor::runner {

namespace {

bool send_fd(int sock, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL) == 1;
}

// Dies with the init, and makes sure the init is still there.
void tie_to(pid_t init_pid) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("pdeathsig", errno);
  if (::getppid() != init_pid) std::_Exit(kExitSetupFailed);
}

}  // namespace

void run_plugin(const Spec& spec, pid_t init_pid, int listener_socket) noexcept {
  tie_to(init_pid);
  // Only 0-4 may reach the plugin; what we hold above them must close at execve.
  ::syscall(SYS_close_range, 5U, ~0U, CLOSE_RANGE_CLOEXEC);

  apply_rlimits(spec.rlimits, spec.mechanisms.rlimits);
  set_no_new_privs();
  const HostIds own{spec.host_uid, spec.host_gid};
  drop_capabilities(spec.ns.user ? nullptr : &own);
  if (!spec.ns.user) tie_to(init_pid);  // the id change cleared PDEATHSIG
  if (spec.mechanisms.landlock) apply_landlock(spec);

  // Everything execve needs is built before the filter exists.
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);

  // Last: from here on only allowlisted syscalls (sendmsg, close, rt_sigprocmask, execve).
  if (spec.mechanisms.seccomp) {
    const int listener = install_seccomp(spec);
    if (listener >= 0) {
      if (!send_fd(listener_socket, listener)) fail("seccomp", errno, "passing the listener");
      ::close(listener);  // the init's copy is the only one: the plugin cannot answer itself
    }
    ::close(listener_socket);
  }
  // The runner and the init blocked the forwarded signals; the plugin starts with none blocked.
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(spec.exec_path.c_str(), argv.data(), envp.data());
  fail("execve", errno, spec.exec_path);
}

}  // namespace plugvisor::runner
