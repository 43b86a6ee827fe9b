// The init: PID 1 of the plugin's pid namespace. It finishes the sandbox that only a process
// inside the new namespaces can build (ids, mounts, hostname), forks the plugin, and then does
// what an init must: reap every process, pass signals on, and, because it holds the seccomp
// listener, stop the plugin at its first denied syscall. When the plugin ends it reports how
// and exits, and the kernel kills whatever else is left in the namespace.
#include "init.h"

#include <poll.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "mounts.h"
#include "seccomp_policy.h"
#include "status.h"

namespace plugvisor::runner {

void forwarded_signals(sigset_t* set) {
  sigemptyset(set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(set, sig);
}

namespace {

constexpr int kPluginFd = 3;  // plugin.v1
constexpr int kHostFd = 4;    // host.v1

// A write end whose reader is gone polls as POLLERR: the runner has died.
bool runner_gone(int report_w) {
  pollfd p{report_w, POLLOUT, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0;
}

// The runner blocks the forwarded signals before clone; they stay blocked here and arrive on a
// signalfd together with SIGCHLD. (Blocked signals reach a namespace's init even from outside.)
int signal_fd() {
  sigset_t set;
  forwarded_signals(&set);
  sigaddset(&set, SIGCHLD);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) fail("init", errno, "sigprocmask");
  const int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) fail("init", errno, "signalfd");
  return fd;
}

// One fd passed with SCM_RIGHTS (the plugin's seccomp listener); -1 if none came.
int receive_fd(int sock) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0) return -1;
  const cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

// Everything the init does before the plugin exists. Failures are steps, reported on the
// startup pipe.
void prepare(const Spec& spec, const InitFds& fds) {
  // If the runner dies, so do we, and with us (as PID 1) everything in the namespace.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("pdeathsig", errno);
  char go = 0;
  ssize_t n;
  do {
    n = ::read(fds.release_r, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) std::_Exit(kExitSetupFailed);  // the runner failed, and said so itself
  ::close(fds.release_r);

  if (spec.ns.user) {
    // Until now we were host root, unmapped in here. Become the namespace's root, which the
    // runner mapped to the plugin's own host uid/gid: full capabilities in this namespace
    // only, and files we create belong to the plugin.
    if (::setresgid(0, 0, 0) != 0) fail("setuid", errno, "setresgid 0");
    if (::setresuid(0, 0, 0) != 0) fail("setuid", errno, "setresuid 0");
    // Changing ids cleared the parent-death signal; set it again and close the race.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("pdeathsig", errno);
    if (runner_gone(fds.report_w)) std::_Exit(kExitSetupFailed);
  }
  // Not dumpable: the plugin (same uid) cannot open our /proc entries or ptrace us.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Our own session: plugvisord signals the runner's process group, the runner forwards to us
  // and we to the plugin, so each signal arrives exactly once.
  if (::setsid() < 0) fail("setsid", errno);

  if (spec.ns.mount) enter_new_root(spec);
  if (spec.ns.uts && !spec.hostname.empty() &&
      ::sethostname(spec.hostname.data(), spec.hostname.size()) != 0) {
    fail("hostname", errno, spec.hostname);
  }
  if (spec.ns.mount) seal_root();
  // Without a pid namespace we are not PID 1, so orphans must be sent to us explicitly.
  if (!spec.ns.pid && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) fail("init", errno, "subreaper");
}

struct Loop {
  Loop(pid_t plugin_pid, uint64_t cpu_seconds) : plugin(plugin_pid), cpu_limit_s(cpu_seconds) {}
  pid_t plugin;
  uint64_t cpu_limit_s;  // RLIMIT_CPU soft limit given to the plugin; 0: none
  int listener = -1;       // seccomp notifications, once the plugin has sent it
  int listener_sock = -1;  // where it arrives
  ExitRecord record;
  int denied_nr = -1;
  uint32_t denied_arch = 0;
  seccomp_notif* notif = nullptr;  // allocated before the loop (its size is the kernel's)
  seccomp_notif_resp* resp = nullptr;

  void reap() {
    int status = 0;
    pid_t pid;
    rusage usage{};
    while ((pid = ::wait4(-1, &status, WNOHANG, &usage)) > 0) {
      if (pid != plugin) continue;
      if (WIFEXITED(status)) {
        record.kind = ExitRecord::kExited;
        record.value = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        record.kind = ExitRecord::kSignaled;
        record.value = WTERMSIG(status);
        // The kernel's SIGKILL at the hard RLIMIT_CPU is the CPU limit too. It comes instead of
        // SIGXCPU when the soft limit's signal could not end the plugin first (caught, or both
        // limits passed between two of the kernel's checks on a loaded machine).
        const double cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                             static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
        if (record.value == SIGKILL && cpu_limit_s != 0 &&
            cpu_s >= static_cast<double>(cpu_limit_s)) {
          record.value = SIGXCPU;
        }
      }
      if (denied_nr >= 0) {
        // We killed it for a denied syscall: report what seccomp's own kill would have said.
        record.kind = ExitRecord::kSignaled;
        record.value = SIGSYS;
        record.syscall = denied_nr;
        record.syscall_arch = denied_arch;
      }
    }
  }

  void on_signals(int sfd) {
    signalfd_siginfo info[8];
    ssize_t n;
    while ((n = ::read(sfd, info, sizeof info)) > 0) {
      for (size_t i = 0; i < static_cast<size_t>(n) / sizeof info[0]; ++i) {
        const int sig = static_cast<int>(info[i].ssi_signo);
        if (sig == SIGCHLD) {
          reap();
        } else if (record.kind == 0) {
          ::kill(plugin, sig);
        }
      }
    }
  }

  // A syscall outside the allowlist. Like SECCOMP_RET_KILL_PROCESS, the offending process dies
  // (SIGKILL: a SIGSYS could be caught); if that is the plugin itself, the runner reports the
  // syscall as the plugin's end. Either way it is logged on the plugin's stderr.
  void on_notification() {
    if (seccomp_notify_receive(listener, notif) != 0) return;  // its caller died meanwhile
    const auto tid = static_cast<pid_t>(notif->pid);
    // tgkill succeeds only if the thread belongs to the plugin's thread group.
    const bool is_plugin = ::syscall(SYS_tgkill, plugin, tid, SIGKILL) == 0;
    if (!is_plugin) ::kill(tid, SIGKILL);
    if (is_plugin && denied_nr < 0) {
      denied_nr = notif->data.nr;
      denied_arch = notif->data.arch;
    }
    const std::string name = syscall_name(notif->data.arch, notif->data.nr);
    char line[256];
    const int n = std::snprintf(
        line, sizeof line, "plugvisor-runner: seccomp: killed pid %d%s for syscall %s (%d)\n",
        static_cast<int>(tid), is_plugin ? " (the plugin)" : "", name.c_str(), notif->data.nr);
    if (n > 0) write_all(STDERR_FILENO, {line, std::min(static_cast<size_t>(n), sizeof line - 1)});
  }

  void run(int sfd) {
    while (record.kind == 0) {
      pollfd p[3] = {{sfd, POLLIN, 0}, {listener_sock, POLLIN, 0}, {listener, POLLIN, 0}};
      if (::poll(p, 3, -1) < 0) {
        if (errno == EINTR) continue;
        fail("init", errno, "poll");
      }
      if (p[2].revents & POLLIN) {
        on_notification();
      } else if (p[2].revents & (POLLHUP | POLLERR)) {
        ::close(listener);  // nothing filtered is left
        listener = -1;
      }
      if (p[1].revents != 0) {
        listener = receive_fd(listener_sock);
        ::close(listener_sock);
        listener_sock = -1;
      }
      if (p[0].revents != 0) on_signals(sfd);
    }
  }
};

}  // namespace

void run_init(const Spec& spec, const InitFds& fds) noexcept {
  set_failure_fd(fds.startup_w);
  prepare(spec, fds);

  const int sfd = signal_fd();
  int sock[2] = {-1, -1};
  if (spec.mechanisms.seccomp &&
      ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) != 0) {
    fail("init", errno, "socketpair");
  }
  const pid_t self = ::getpid();
  // vfork: the plugin-to-be borrows our memory until its execve instead of copying it (a fork
  // here cost ~0.2 ms of the sandbox's ~1.4). We are single-threaded and wait meanwhile;
  // run_plugin() never returns (execve or _exit), touches none of our state that we read
  // afterwards, and what it allocates on the way is simply never freed.
  const pid_t plugin = ::vfork();
  if (plugin < 0) fail("fork", errno);
  if (plugin == 0) {
    ::close(sfd);
    ::close(fds.report_w);
    if (sock[0] >= 0) ::close(sock[0]);
    run_plugin(spec, self, sock[1]);
  }

  // From here the plugin alone holds the startup pipe (EOF = its execve) and its channels.
  if (sock[1] >= 0) ::close(sock[1]);
  ::close(fds.startup_w);
  set_failure_fd(-1);
  ::close(kPluginFd);
  ::close(kHostFd);

  Loop loop(plugin, spec.rlimits.cpu_seconds);
  loop.listener_sock = sock[0];
  if (sock[0] >= 0 && seccomp_notify_alloc(&loop.notif, &loop.resp) != 0) {
    // Without it no denial could be read, and a denied call would hang: stop instead.
    ::kill(plugin, SIGKILL);
    ::close(sock[0]);
    loop.listener_sock = -1;
  }
  loop.run(sfd);

  write_all(fds.report_w, {reinterpret_cast<const char*>(&loop.record), sizeof loop.record});
  ::close(fds.report_w);
  // As PID 1, exiting kills the rest of the namespace. Without one, do it by hand: our
  // process group is whatever the plugin left behind (the record is already written).
  if (!spec.ns.pid) ::kill(0, SIGKILL);
  std::_Exit(0);
}

}  // namespace plugvisor::runner
