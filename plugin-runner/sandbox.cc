// Outside the sandbox: the runner, still host root and single-threaded. It prepares what must
// be done from outside (cgroups, id maps), clones the init into the new namespaces and then
// only waits: it forwards plugvisord's signals, relays the inside's step failures to the status
// pipe, and finally reports how the plugin ended and ends the same way.
#include "sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>

#include "cgroups.h"
#include "init.h"
#include "namespaces.h"
#include "plugvisor/common/unique_fd.h"
#include "seccomp_policy.h"
#include "spec.h"
#include "status.h"

namespace plugvisor::runner {

namespace {

constexpr int kFirstStrayFd = 5;  // 0-2 stdio, 3 plugin.v1, 4 host.v1

volatile sig_atomic_t g_init = 0;

void forward_to_init(int sig) {
  if (g_init > 0) ::kill(g_init, sig);
}

void close_range(unsigned first, unsigned last) {
  if (first <= last) ::syscall(SYS_close_range, first, last, 0U);
}

// Every fd but stdio, the plugin's two channels and the status pipe. Then any of 0-4 that is
// not open gets /dev/null, so that every fd we open later is above 4: the init and the runner
// close 3 and 4 once the plugin holds them, and must not hit one of their own.
void close_stray_fds(int status_fd) {
  if (status_fd < 0) {
    close_range(kFirstStrayFd, ~0U);
  } else {
    close_range(kFirstStrayFd, static_cast<unsigned>(status_fd) - 1);
    close_range(static_cast<unsigned>(status_fd) + 1, ~0U);
  }
  for (int fd = 0; fd < kFirstStrayFd; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) continue;
    const int null = ::open("/dev/null", O_RDWR);
    if (null < 0) fail("close_fds", errno, "/dev/null");
    if (null != fd) fail("close_fds", EBADF, "fd " + std::to_string(fd));
  }
}

struct Pipe {
  UniqueFd r, w;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail("clone", errno, "pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string read_to_eof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string exit_line(const ExitRecord& r) {
  if (r.kind == ExitRecord::kExited) {
    return "{\"exit\":{\"code\":" + std::to_string(r.value) + "}}\n";
  }
  std::string line = "{\"exit\":{\"signal\":" + std::to_string(r.value);
  if (r.syscall >= 0) {
    line += ",\"syscall\":" + std::to_string(r.syscall) +
            ",\"syscall_name\":" + json_string(syscall_name(r.syscall_arch, r.syscall));
  }
  return line + "}}\n";
}

// The runner's wait status should say what the plugin's did: plugvisord reaps only us.
[[noreturn]] void exit_like(const ExitRecord& r) {
  if (r.kind == ExitRecord::kExited) std::_Exit(r.value);
  // Die of the same signal, without leaving a core dump of the runner behind.
  const struct rlimit no_core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::signal(r.value, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, r.value);
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
  ::kill(::getpid(), r.value);
  std::_Exit(128 + r.value);  // a signal whose default is not to terminate
}

}  // namespace

void run_sandboxed(const SandboxArgs& args) {
  // 0-4 belong to the plugin (stdio and its two channels).
  if (args.status_fd >= 0 && args.status_fd < kFirstStrayFd) {
    fail("read_spec", EBADF, "--status-fd must be above 4");
  }
  // plugvisord's dup2 cleared close-on-exec; the status pipe must never reach the plugin.
  if (args.status_fd >= 0) {
    ::fcntl(args.status_fd, F_SETFD, FD_CLOEXEC);
    set_failure_fd(args.status_fd);
  }

  // 1. The spec, then the same first steps as without a sandbox.
  const Spec spec = read_spec(args.spec_fd);
  // PDEATHSIG survives everything below; the getppid check closes the window in which the
  // supervisor died before prctl ran.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("pdeathsig", errno);
  if (args.expect_parent != 0 && ::getppid() != args.expect_parent) {
    fail("pdeathsig", ESRCH, "supervisor exited before the plugin started");
  }
  // Own session and process group: plugvisord signals -pid to reach us.
  if (::setsid() < 0) fail("setsid", errno);
  // A shared network namespace may be one of our inherited fds (/proc/self/fd/N), so it is
  // joined before they are closed; the clone below inherits it.
  const bool join_net = spec.ns.net && !spec.netns.empty();
  if (join_net) join_netns(spec.netns);
  close_stray_fds(args.status_fd);

  // 2. Cgroups, before clone: the init and plugin are born inside them, and the cgroup
  //    namespace is rooted at them.
  if (spec.mechanisms.cgroups) join_cgroups(spec.cgroup_procs);
  // Host root's supplementary groups would follow the child into its user namespace, where
  // setgroups=deny would keep them for good.
  if (::setgroups(0, nullptr) != 0) fail("setgroups", errno);

  // 3. The init, in all its namespaces. Internal pipes, all close-on-exec:
  //    startup: step failures from inside (EOF with nothing = the plugin's execve happened)
  //    report:  the init's ExitRecord
  //    release: one byte once the id maps are written
  Pipe startup = make_pipe(), report = make_pipe(), release = make_pipe();
  sigset_t forwarded, previous;
  forwarded_signals(&forwarded);
  // Blocked across clone: a signal arriving now is forwarded once we know the init's pid, and
  // the init keeps them blocked for its signalfd.
  ::sigprocmask(SIG_BLOCK, &forwarded, &previous);
  int flags = clone_flags(spec.ns);
  if (join_net) flags &= ~CLONE_NEWNET;
  std::fflush(nullptr);
  const pid_t init = clone_process(flags);
  if (init < 0) fail("clone", errno);
  if (init == 0) {
    if (args.status_fd >= 0) ::close(args.status_fd);  // only the runner reports
    startup.r.reset();
    report.r.reset();
    release.w.reset();
    run_init(spec, {startup.w.get(), report.w.get(), release.r.get()});
  }
  g_init = init;
  startup.w.reset();
  report.w.reset();
  release.r.reset();

  // 4. Map the init's namespace root to the plugin's own host ids, then let it go on.
  if (spec.ns.user) write_id_maps(init, spec.host_uid, spec.host_gid);
  const char go = 1;
  if (::write(release.w.get(), &go, 1) != 1) fail("clone", errno, "releasing the init");
  release.w.reset();

  // 5. Wait. Stop signals go to the init, which passes them on to the plugin.
  struct sigaction sa {};
  sa.sa_handler = forward_to_init;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&forwarded, sig) == 1) ::sigaction(sig, &sa, nullptr);
  }
  ::signal(SIGPIPE, SIG_IGN);  // plugvisord may stop reading the status pipe; we still exit
  ::sigprocmask(SIG_SETMASK, &previous, nullptr);
  ::close(3);  // the plugin's channels live in the plugin alone
  ::close(4);

  const std::string failure = read_to_eof(startup.r.get());
  if (args.status_fd >= 0)
    write_all(args.status_fd, failure.empty() ? "{\"exec\":\"ok\"}\n" : failure);
  int status = 0;
  while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
  }
  if (!failure.empty()) std::_Exit(kExitSetupFailed);  // the step already said why

  ExitRecord record;
  if (::read(report.r.get(), &record, sizeof record) != sizeof record || record.kind == 0) {
    // The init itself died before the plugin (killed, or out of memory): that is the end.
    record = ExitRecord{};
    record.kind = WIFSIGNALED(status) ? ExitRecord::kSignaled : ExitRecord::kExited;
    record.value = WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
  }
  if (args.status_fd >= 0) write_all(args.status_fd, exit_line(record));
  exit_like(record);
}

}  // namespace plugvisor::runner
