// Kernel surface: namespaces and mounts (the sandbox's own building blocks, turned against it),
// syscalls a plugin has no use for and which have a long record of kernel exploits, terminal
// input injection, and the other syscall ABIs a seccomp filter must not forget. Each attempt that
// changes something (a mount, a namespace) does it on a thread of its own that then ends.
#include <asm/unistd.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "attempt.h"
#include "plugvisor/common/unique_fd.h"

namespace plugvisor::escape_probe {
namespace {

// Runs `fn` on a fresh thread, so namespace changes die with it.
template <typename F>
void on_own_thread(F fn) {
  std::thread(fn).join();
}

Outcome mount_tmpfs(const Input& in) {
  std::string detail;
  bool mounted = false;
  on_own_thread([&] {
    // Running as host root means there is no sandbox: mount in a private mount namespace then,
    // so that the probe never touches the host's mount table. In a sandbox, go straight for
    // mount(2), so that it is mount itself that meets the filter.
    if (host_uid(::geteuid()) == 0) {
      if (::unshare(CLONE_NEWNS) == 0 &&
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) {
        detail += "(host root: in a private mount namespace) ";
      } else {
        detail += failed("private mount namespace", errno);
        return;
      }
    }
    std::string dir = data_dir(in) + "/" + scratch_name(".escape-mnt");
    if (::mkdir(dir.c_str(), 0700) != 0) {
      detail += failed("mkdir " + dir, errno);
      return;
    }
    if (::mount("none", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m") == 0) {
      mounted = true;
      detail += "mounted a tmpfs on " + dir;
      ::umount2(dir.c_str(), MNT_DETACH);
    } else {
      detail += failed("mount tmpfs on " + dir, errno);
    }
    ::rmdir(dir.c_str());
  });
  return mounted ? escaped(detail) : blocked(detail);
}

Outcome unshare_namespaces(const Input&) {
  std::string detail;
  bool any = false;
  on_own_thread([&] {
    if (::unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC) == 0) {
      any = true;
      detail += "unshare(NEWNET|NEWUTS|NEWIPC) worked; ";
    } else {
      detail += failed("unshare(NEWNET|NEWUTS|NEWIPC)", errno) + "; ";
    }
  });
  // unshare(CLONE_NEWUSER) refuses threaded callers, so ask for a user namespace in a child, as
  // a single-threaded plugin would. The raw syscall skips the atfork handlers of gRPC; the child
  // only calls _exit.
  long child = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (child == 0) ::_exit(0);
  if (child > 0) {
    ::waitpid(static_cast<pid_t>(child), nullptr, 0);
    any = true;
    detail += "clone(CLONE_NEWUSER) made a child in a new user namespace";
  } else {
    detail += failed("clone(CLONE_NEWUSER)", errno);
  }
  return any ? escaped(detail) : blocked(detail);
}

Outcome setns_supervisor(const Input& in) {
  pid_t pid = in.target_pid("supervisor");
  if (pid <= 0) return inconclusive("the test passed no target_pids.supervisor");
  // When the supervisor is out of sight, rejoining our own namespace still shows whether
  // setns (CAP_SYS_ADMIN) is available at all.
  const bool visible = is_visible_other(pid);
  std::string path = visible ? "/proc/" + std::to_string(pid) + "/ns/net" : "/proc/self/ns/net";
  std::string detail = visible ? "" : "the supervisor is not visible; ";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return blocked(detail + failed("open " + path, errno));
  int rc = -1, err = 0;
  on_own_thread([&] {
    rc = ::setns(fd.get(), CLONE_NEWNET);
    err = errno;
  });
  if (rc != 0) return blocked(detail + failed("setns(" + path + ")", err));
  if (!visible)
    return blocked(detail + "setns into its own network namespace worked (CAP_SYS_ADMIN left)");
  return escaped("joined the supervisor's network namespace through " + path);
}

Outcome pivot_root_attempt(const Input& in) {
  // The kernel checks the capability before it looks at the paths: with paths that do not
  // exist, a permitted call fails harmlessly with ENOENT, and EPERM means "not allowed".
  std::string base = data_dir(in) + "/" + scratch_name(".escape-nonexistent");
  std::string old = base + "/old";
  if (::syscall(SYS_pivot_root, base.c_str(), old.c_str()) == 0 || errno != EPERM) {
    return escaped("pivot_root passed the permission check (" + errno_text(errno) + ")");
  }
  return blocked(failed("pivot_root", errno));
}

// For the syscalls that hand out a file descriptor: escaped if one comes back.
Outcome fd_syscall(long fd, const std::string& what) {
  if (fd < 0) return blocked(failed(what, errno));
  ::close(static_cast<int>(fd));
  return escaped(what + " returned a file descriptor");
}

Outcome io_uring_setup(const Input&) {
  io_uring_params params{};
  return fd_syscall(::syscall(__NR_io_uring_setup, 1, &params), "io_uring_setup");
}

Outcome bpf_map_create(const Input&) {
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  return fd_syscall(::syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof attr), "bpf(BPF_MAP_CREATE)");
}

Outcome perf_event_open(const Input& in) {
  pid_t pid = in.target_pid("supervisor");
  // Watching the supervisor is the leak; counting itself still shows the syscall is open.
  if (pid <= 0 || !is_visible_other(pid)) pid = 0;
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  return fd_syscall(
      ::syscall(__NR_perf_event_open, &attr, pid, -1, -1, 0),
      std::string("perf_event_open(") + (pid == 0 ? "itself" : "the supervisor") + ")");
}

Outcome userfaultfd(const Input&) {
  // User-mode-only faults are what an unprivileged process may ask for.
  return fd_syscall(::syscall(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY), "userfaultfd");
}

Outcome keyctl(const Input&) {
  long id = ::syscall(__NR_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 1);
  if (id < 0) return blocked(failed("keyctl(KEYCTL_GET_KEYRING_ID, user keyring)", errno));
  return escaped("keyctl returned the user keyring's id " + std::to_string(id));
}

Outcome tiocsti(const Input&) {
  // A plugin that shares a terminal with the operator could type commands into it.
  std::string detail;
  bool any = false;
  auto inject = [&](int fd, const std::string& what) {
    const char nothing = '\0';
    if (::ioctl(fd, TIOCSTI, &nothing) == 0) {
      any = true;
      detail += "TIOCSTI on " + what + " worked; ";
    } else {
      detail += failed("TIOCSTI on " + what, errno) + "; ";
    }
  };
  inject(0, "stdin");
  inject(1, "stdout");
  if (UniqueFd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)); tty) {
    inject(tty.get(), "/dev/tty");
  } else {
    detail += failed("open /dev/tty", errno);
  }
  return any ? escaped(detail) : blocked(detail);
}

Outcome x32_syscall(const Input&) {
  // getpid through the x32 ABI: a filter that only knows x86-64 numbers must not let it by.
  long pid = ::syscall(__X32_SYSCALL_BIT | __NR_getpid);
  if (pid < 0) return blocked(failed("x32 getpid", errno));
  return escaped("x32 getpid returned " + std::to_string(pid));
}

// int 0x80 faults (SIGSEGV) on kernels without 32-bit emulation; that answer is caught here
// rather than taking the probe down.
thread_local sigjmp_buf* int80_escape = nullptr;
void on_int80_fault(int sig) {
  if (int80_escape != nullptr) siglongjmp(*int80_escape, sig);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

Outcome int80_syscall(const Input&) {
  long result = 0;
  sigjmp_buf jump;
  struct sigaction fault {
  }, old{};
  fault.sa_handler = on_int80_fault;
  sigemptyset(&fault.sa_mask);
  ::sigaction(SIGSEGV, &fault, &old);
  int sig = sigsetjmp(jump, 1);
  if (sig == 0) {
    int80_escape = &jump;
    constexpr long kI386Getpid = 20;
    // The 32-bit entry clears r8-r11 on the way out.
    asm volatile("int $0x80"
                 : "=a"(result)
                 : "a"(kI386Getpid)
                 : "r8", "r9", "r10", "r11", "memory", "cc");
  }
  int80_escape = nullptr;
  ::sigaction(SIGSEGV, &old, nullptr);
  if (sig != 0) return blocked("int 0x80 faulted (no 32-bit emulation in this kernel)");
  if (result < 0) return blocked(failed("int 0x80 getpid", static_cast<int>(-result)));
  return escaped("int 0x80 getpid (i386 ABI) returned " + std::to_string(result));
}

}  // namespace

void add_kernel_attempts(std::vector<Attempt>& out) {
  const std::string f = "kernel";
  out.push_back({"mount", f, Kind::may_kill, mount_tmpfs});
  out.push_back({"unshare", f, Kind::may_kill, unshare_namespaces});
  out.push_back({"setns", f, Kind::may_kill, setns_supervisor});
  out.push_back({"pivot_root", f, Kind::may_kill, pivot_root_attempt});
  out.push_back({"io_uring_setup", f, Kind::may_kill, io_uring_setup});
  out.push_back({"bpf", f, Kind::may_kill, bpf_map_create});
  out.push_back({"perf_event_open", f, Kind::may_kill, perf_event_open});
  out.push_back({"userfaultfd", f, Kind::may_kill, userfaultfd});
  out.push_back({"keyctl", f, Kind::may_kill, keyctl});
  out.push_back({"tiocsti", f, Kind::may_kill, tiocsti});
  out.push_back({"x32_syscall", f, Kind::may_kill, x32_syscall});
  out.push_back({"int80_syscall", f, Kind::may_kill, int80_syscall});
}

}  // namespace plugvisor::escape_probe
