// The seccomp policy. Default-deny: what a multithreaded C++ gRPC plugin (the SDK, glibc,
// libstdc++, abseil, protobuf) needs is allowed; everything else stops the plugin.
//
// How a denial is handled (seccomp_filter.cc, init.cc): the default action is
// SECCOMP_RET_USER_NOTIF. The offending thread
// blocks in the syscall, the init (which holds the listener) reads the notification, kills the
// plugin with SIGKILL and reports {"signal":31,"syscall":NR,"syscall_name":...}. Unlike
// SECCOMP_RET_KILL_PROCESS this tells us which syscall it was, without audit logs.
//
// Not denials, but errors the libraries expect and handle:
//   clone3                     -> ENOSYS (glibc falls back to clone, whose flags we can see)
//   socket/socketpair non-unix -> EAFNOSUPPORT (gRPC probes for IPv6, and so on)
// Restricted by argument (anything else is a denial):
//   clone      thread flags only, or (seccomp.allow_spawn) anything without CLONE_NEW*
//   ioctl      a short list of harmless requests (no TIOCSTI, TIOCLINUX, ...)
//   prctl      names, dumpable/pdeathsig/no_new_privs queries, timer slack
//   personality  query and PER_LINUX only
//   prlimit64  on itself only
// Other architectures (i386 via int 0x80, x32) are denials too (SCMP_FLTATR_ACT_BADARCH).
#include "seccomp_policy.h"

#include <linux/audit.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "status.h"

namespace plugvisor::runner {

namespace {

using std::string_view;

// Allowed with any arguments. Filesystem calls are here because the mount namespace and
// Landlock decide which paths they reach.
// clang-format off
constexpr string_view kAllowed[] = {
    // Process and threads, signals, scheduling.
    "exit", "exit_group", "execve", "wait4", "waitid", "set_tid_address", "set_robust_list",
    "get_robust_list", "rseq", "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
    "arch_prctl", "membarrier", "getrandom", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "sigaltstack", "kill", "tgkill", "tkill", "restart_syscall", "sched_yield", "sched_getaffinity",
    "sched_setaffinity", "sched_getparam", "sched_getscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getattr", "sched_rr_get_interval", "getpriority",
    "setpriority", "getcpu", "pause",
    // Identity and limits, read-only (setrlimit can only lower, or raise up to the hard limit).
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "getpgrp", "getpgid", "getsid", "capget", "uname", "sysinfo",
    "getrlimit", "setrlimit", "getrusage", "times", "umask",
    // Time.
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "getitimer", "setitimer", "alarm",
    // Memory.
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "mlock", "mlock2", "munlock", "get_mempolicy", "mseal",
    "map_shadow_stack",
    // Files and fds.
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "fstat",
    "stat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
    "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir", "fchdir",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link",
    "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "truncate",
    "ftruncate", "fallocate", "fsync", "fdatasync", "sync_file_range", "flock", "fcntl", "dup",
    "dup2", "dup3", "utimensat", "utime", "utimes", "futimesat", "fadvise64", "readahead",
    "cachestat", "sendfile", "copy_file_range", "splice", "tee", "getxattr", "lgetxattr",
    "fgetxattr", "listxattr", "llistxattr", "flistxattr", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch",
    // Event loops.
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "pipe", "pipe2", "signalfd",
    "signalfd4",
    // Sockets. Creating them is unix-only (below); these work on the fds the plugin has.
    "connect", "accept", "accept4", "bind", "listen", "shutdown", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "sendmmsg", "recvmmsg", "getsockname", "getpeername", "getsockopt", "setsockopt",
};
// clang-format on

// Only with seccomp.allow_spawn.
constexpr string_view kAllowedToSpawn[] = {"fork",    "vfork",      "setsid",
                                           "setpgid", "pidfd_open", "pidfd_send_signal"};

// Never allowed, and named here so that no edit of the lists above can let one in (checked at
// compile time below). They fall to the default action like any unlisted syscall.
// clang-format off
constexpr string_view kDenied[] = {
    "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "ptrace", "process_vm_readv",
    "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at", "memfd_create",
    "memfd_secret", "execveat", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl", "seccomp", "setuid",
    "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
    "capset", "mknod", "mknodat", "chown", "fchown", "lchown", "fchownat", "sethostname",
    "setdomainname", "syslog", "iopl", "ioperm", "modify_ldt", "vhangup", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "mbind", "set_mempolicy", "migrate_pages",
    "move_pages", "vmsplice", "fanotify_init", "uselib", "lookup_dcookie", "clone3",
};
// clang-format on

constexpr bool listed(string_view name, const string_view* begin, const string_view* end) {
  for (auto it = begin; it != end; ++it) {
    if (*it == name) return true;
  }
  return false;
}

constexpr bool no_denied_syscall_is_allowed() {
  for (auto name : kDenied) {
    if (listed(name, std::begin(kAllowed), std::end(kAllowed))) return false;
    if (listed(name, std::begin(kAllowedToSpawn), std::end(kAllowedToSpawn))) return false;
  }
  return true;
}
static_assert(no_denied_syscall_is_allowed(), "a syscall in kDenied is also allowed");

// ioctl requests that are safe on any fd: isatty, window size, bytes readable, non-blocking
// and close-on-exec flags. Compared on the low 32 bits, which is all the kernel reads.
// TIOCOUTQ (SIOCOUTQ) is gRPC's query of a socket's unsent bytes; without it a plugin dies when
// a call is cancelled or its channel shuts down.
constexpr unsigned long kAllowedIoctls[] = {TCGETS,  TIOCGWINSZ, TIOCGPGRP, FIONREAD, FIONBIO,
                                            FIOCLEX, FIONCLEX,   FIOASYNC,  TIOCOUTQ};

constexpr unsigned long kAllowedPrctls[] = {
    PR_SET_NAME,       PR_GET_NAME,       PR_GET_DUMPABLE,     PR_SET_PDEATHSIG,
    PR_GET_PDEATHSIG,  PR_GET_SECCOMP,    PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS,
    PR_CAPBSET_READ,   PR_GET_KEEPCAPS,   PR_GET_SECUREBITS,   PR_SET_TIMERSLACK,
    PR_GET_TIMERSLACK, PR_GET_THP_DISABLE};

// A thread: shares memory, signal handlers and thread group. No namespace flags.
constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
constexpr uint64_t kThreadFlags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;

constexpr uint64_t kLow32 = 0xffffffffULL;

void check(int rc, const char* what) {
  if (rc < 0) fail("seccomp", -rc, what);
}

// Syscalls newer than the libseccomp we build with (2.5.4 knows up to Linux 5.15 or so), by
// their x86_64 number, so that a plugin built against a newer libc is not killed for using one.
struct NewerSyscall {
  string_view name;
  int x86_64;
};
constexpr NewerSyscall kNewerSyscalls[] = {
    {"futex_waitv", 449}, {"cachestat", 451},  {"fchmodat2", 452},     {"map_shadow_stack", 453},
    {"futex_wake", 454},  {"futex_wait", 455}, {"futex_requeue", 456}, {"mseal", 462}};

int resolve(string_view name) {
  const std::string n(name);
  const int nr = seccomp_syscall_resolve_name(n.c_str());
  if (nr >= 0 || seccomp_arch_native() != SCMP_ARCH_X86_64) return nr;
  for (const auto& s : kNewerSyscalls) {
    if (s.name == name) return s.x86_64;
  }
  return nr;
}

void allow(scmp_filter_ctx ctx, string_view name) {
  const int nr = resolve(name);
  if (nr < 0) return;  // not a syscall on this architecture
  check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), std::string(name).c_str());
}

}  // namespace

scmp_filter_ctx build_seccomp_policy(bool allow_spawn, uint32_t deny) {
  scmp_filter_ctx ctx = seccomp_init(deny);
  if (ctx == nullptr) fail("seccomp", ENOMEM, "seccomp_init");
  // The filter only knows the native arch: i386 (int 0x80) and x32 calls get `deny` too.
  check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, deny), "badarch");
  // A binary search over syscall numbers instead of a linear chain: shorter per-call cost.
  check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize");
  for (auto name : kAllowed) allow(ctx, name);
  if (allow_spawn) {
    for (auto name : kAllowedToSpawn) allow(ctx, name);
  }

  check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
  if (allow_spawn) {
    check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                           SCMP_A0_64(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0)),
          "clone");
  } else {
    check(seccomp_rule_add(
              ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
              SCMP_A0_64(SCMP_CMP_MASKED_EQ, kThreadFlags | kNamespaceFlags, kThreadFlags)),
          "clone");
  }

  // Unix sockets only. The allow compares the low 32 bits (the kernel's int); the errno rule
  // compares all 64. They overlap only for AF_UNIX with garbage in the high bits, where either
  // outcome (a unix socket, or EAFNOSUPPORT) is safe.
  for (int nr : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                           SCMP_A0_64(SCMP_CMP_MASKED_EQ, kLow32, AF_UNIX)),
          "socket");
    check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1,
                           SCMP_A0_64(SCMP_CMP_NE, AF_UNIX)),
          "socket");
  }

  for (unsigned long req : kAllowedIoctls) {
    check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                           SCMP_A1_64(SCMP_CMP_MASKED_EQ, kLow32, req)),
          "ioctl");
  }
  for (unsigned long option : kAllowedPrctls) {
    check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                           SCMP_A0_64(SCMP_CMP_MASKED_EQ, kLow32, option)),
          "prctl");
  }
  for (unsigned long persona : {0xffffffffUL, static_cast<unsigned long>(PER_LINUX)}) {
    check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                           SCMP_A0_64(SCMP_CMP_MASKED_EQ, kLow32, persona)),
          "personality");
  }
  check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A0_64(SCMP_CMP_EQ, 0)),
        "prlimit64");
  return ctx;
}

std::string syscall_name(uint32_t audit_arch, int nr) {
  std::string prefix;
  if (audit_arch == SCMP_ARCH_X86_64 && (nr & 0x40000000) != 0) {
    audit_arch = SCMP_ARCH_X32;  // x32 calls carry the x86_64 token and bit 30 in the number
    prefix = "x32:";
  } else if (audit_arch == SCMP_ARCH_X86) {
    prefix = "i386:";
  } else if (!is_native_arch(audit_arch)) {
    prefix = "arch_" + std::to_string(audit_arch) + ":";
  }
  char* name = seccomp_syscall_resolve_num_arch(audit_arch, nr);
  if (name == nullptr) return prefix + "syscall_" + std::to_string(nr);
  std::string out = prefix + name;
  std::free(name);
  return out;
}

bool is_native_arch(uint32_t audit_arch) { return audit_arch == seccomp_arch_native(); }

void print_seccomp_policy(bool allow_spawn, int fd) {
  scmp_filter_ctx ctx = build_seccomp_policy(allow_spawn, SCMP_ACT_NOTIFY);
  check(seccomp_export_pfc(ctx, fd), "seccomp_export_pfc");
  seccomp_release(ctx);
}

}  // namespace plugvisor::runner
