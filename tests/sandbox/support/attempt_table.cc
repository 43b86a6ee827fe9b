#include "attempt_table.h"

#include <algorithm>
#include <sstream>

namespace plugvisor::sandboxtest {

namespace {

// Short names for the mechanisms, as tests/sandbox/README.md explains them.
constexpr const char* kFsHidden = "mount ns (not in the new root); Landlock; user ns (DAC)";
constexpr const char* kFsReadOnly = "mount ns (read-only bind); Landlock (ro); user ns (DAC)";

}  // namespace

const std::vector<Expectation>& expectations() {
  static const std::vector<Expectation> table = {
      // --- fs ---
      {"read_shadow", kFsHidden, {}, {}},
      {"read_supervisor_environ",
       "pid ns (supervisor not visible); user ns (ptrace access check)",
       {},
       {}},
      {"proc_root_traversal",
       "pid ns (supervisor not visible); user ns (ptrace access check)",
       {},
       {}},
      {"path_traversal", "mount ns (.. stops at the new root); Landlock", {}, {}},
      {"data_dir_symlink", "mount ns (the target resolves inside the new root); Landlock", {}, {}},
      {"plugin_dir_symlink",
       "mount ns (the target resolves inside the new root); Landlock",
       {},
       {}},
      {"write_usr", kFsReadOnly, {}, {}},
      {"write_plugin_files", "mount ns (/plugin bound read-only); Landlock (ro)", {}, {}},
      {"write_host_tmp", "mount ns (/tmp is a private size-capped tmpfs); Landlock", {}, {}},
      {"write_granted_ro", "mount ns (read-only bind of the grant); Landlock (ro)", {}, {}},
      {"hardlink_across",
       "mount ns (EXDEV across binds, or not visible); Landlock (REFER)",
       {},
       {}},
      {"rename_across", "mount ns (EXDEV, EROFS); Landlock (REFER, ro)", {}, {}},
      {"open_by_handle",
       "seccomp (open_by_handle_at); capabilities (CAP_DAC_READ_SEARCH)",
       {},
       {"open_by_handle_at", "name_to_handle_at"}},
      {"dac_override",
       "capabilities dropped (CAP_DAC_OVERRIDE; the file is its own, Landlock allows the read)",
       {},
       {}},
      // --- net ---
      {"tcp_connect",
       "seccomp (socket: AF_UNIX only); net ns (empty); Landlock (TCP connect)",
       {},
       {"socket", "connect"}},
      {"tcp_bind_listen",
       "seccomp (socket: AF_UNIX only); Landlock (TCP bind); net ns",
       {},
       {"socket", "bind", "listen"}},
      {"udp_send", "seccomp (socket: AF_UNIX only); net ns (empty)", {}, {"socket", "sendto"}},
      {"raw_socket",
       "seccomp (socket: AF_UNIX only); capabilities (CAP_NET_RAW); net ns",
       {},
       {"socket"}},
      {"packet_socket",
       "seccomp (socket: AF_UNIX only); capabilities (CAP_NET_RAW); net ns",
       {},
       {"socket"}},
      {"abstract_unix_connect",
       "Landlock (abstract unix scope); net ns where plugins do not share one",
       {},
       {"connect"}},
      {"unix_pathname_connect", "mount ns (socket path not visible); Landlock", {}, {"connect"}},
      {"host_network_visible",
       "net ns (empty: only lo, no host sockets; /proc/net and bind are allowed)",
       {},
       {}},
      // --- process ---
      {"kill_supervisor", "pid ns; Landlock (signal scope); user ns (other uid)", {}, {"kill"}},
      {"kill_neighbour",
       "pid ns; Landlock (signal scope); user ns (a uid per plugin)",
       {},
       {"kill"}},
      {"ptrace_supervisor", "seccomp (ptrace); pid ns; user ns", {}, {"ptrace"}},
      {"ptrace_neighbour", "seccomp (ptrace); pid ns; user ns", {}, {"ptrace"}},
      {"process_vm_readv_supervisor",
       "seccomp (process_vm_readv); pid ns; user ns",
       {},
       {"process_vm_readv"}},
      {"process_vm_readv_neighbour",
       "seccomp (process_vm_readv); pid ns; user ns",
       {},
       {"process_vm_readv"}},
      {"setuid_root",
       "seccomp (setuid); user ns (uid 0 inside is not host root)",
       {},
       {"setuid", "setresuid", "setreuid"}},
      {"exec_sh", "Landlock (exec only from /plugin and the loader)", {}, {"execve"}},
      {"exec_setuid",
       "no_new_privs; nosuid mount; user ns (owner unmapped)",
       {"exit_code:95"},
       {"execve"}},
      {"memfd_execveat", "seccomp (memfd_create, execveat)", {}, {"memfd_create", "execveat"}},
      {"see_host_processes",
       "pid ns (host pids are ESRCH; sched_getscheduler and getpriority check no permission)",
       {},
       {}},
      {"host_user_ns", "user ns (own id space; uid 0 maps to the plugin's host uid only)", {}, {}},
      // --- namespace: views of the host that only the namespace hides ---
      {"host_mount_ns", "mount ns (a new root: the host's tree is gone)", {}, {}},
      {"host_uts_ns", "uts ns (own hostname, plugin-<id>)", {}, {}},
      {"host_ipc_ns", "ipc ns (/proc/sysvipc shows the reader's; seccomp denies SysV IPC)", {}, {}},
      {"host_cgroup_ns", "cgroup ns (rooted at the plugin's own cgroups)", {}, {}},
      // --- kernel ---
      {"mount", "seccomp (mount); capabilities dropped", {}, {"mount", "mkdir"}},
      {"unshare",
       "seccomp (unshare, clone with CLONE_NEW*); capabilities dropped",
       {},
       {"unshare", "clone"}},
      {"setns", "pid ns (target not visible); seccomp (setns); capabilities", {}, {"setns"}},
      {"pivot_root", "seccomp (pivot_root); capabilities", {}, {"pivot_root"}},
      {"io_uring_setup", "seccomp", {}, {"io_uring_setup"}},
      {"bpf", "seccomp; kernel.unprivileged_bpf_disabled", {}, {"bpf"}},
      {"perf_event_open", "seccomp; kernel.perf_event_paranoid", {}, {"perf_event_open"}},
      {"userfaultfd", "seccomp", {}, {"userfaultfd"}},
      {"keyctl", "seccomp", {}, {"keyctl"}},
      {"tiocsti",
       "setsid + stdin /dev/null (no terminal); seccomp (ioctl allowlist)",
       {},
       {"ioctl", "open", "openat"}},
      {"x32_syscall", "seccomp (foreign ABI); kernel without x32", {}, {}},
      {"int80_syscall", "seccomp (foreign ABI: i386)", {}, {}},
      // --- resources ---
      {"fork_bomb",
       "seccomp (clone without thread flags, spawn: false); cgroup pids; RLIMIT_NPROC",
       {"pids_limit"},
       {"clone", "fork", "vfork"}},
      {"thread_bomb", "cgroup pids; RLIMIT_NPROC", {"pids_limit"}, {}},
      {"memory_hog", "cgroup memory (OOM kill)", {"oom"}, {}},
      {"cpu_spin", "RLIMIT_CPU (SIGXCPU); cgroup cpu (only slows it)", {"cpu_limit"}, {}},
      {"fill_tmp", "tmpfs size cap; memory cgroup", {}, {}},
      {"exhaust_fds", "RLIMIT_NOFILE", {}, {}},
      {"cgroup_escape", "mount ns (/sys not mounted); cgroup ns; user ns", {}, {}},
      {"raise_rlimit",
       "user ns (needs CAP_SYS_RESOURCE in the initial ns); capabilities",
       {},
       {"prlimit64", "setrlimit"}},
  };
  return table;
}

const Expectation* find_expectation(const std::string& attempt) {
  for (const auto& e : expectations()) {
    if (e.attempt == attempt) return &e;
  }
  return nullptr;
}

namespace {

std::string text_of(const Json& j, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (!j.is_object() || !j.contains(k)) continue;
    const Json& v = j[k];
    return v.is_string() ? v.get<std::string>() : v.dump();
  }
  return "";
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

Verdict judge(const Invocation& inv, const Expectation& expected) {
  Verdict v;
  if (inv.answered) {
    const std::string detail = inv.result.value("detail", "");
    if (inv.result.value("inconclusive", false)) {
      v.problem = "inconclusive (the test's setup, not the sandbox): " + detail;
    } else if (inv.result.value("escaped", true)) {
      v.problem = "ESCAPED: " + detail;
    } else {
      v.blocked = true;
      v.how = detail;
    }
    return v;
  }
  const std::string reason = text_of(inv.exit, {"reason"});
  if (reason == "seccomp") {
    const std::string syscall = text_of(inv.exit, {"syscall_name", "syscall"});
    v.how = "killed: seccomp (" + (syscall.empty() ? "no syscall named" : syscall) + ")";
    if (syscall.empty() && !expected.syscalls.empty()) {
      v.problem = "seccomp kill without the syscall's name: " + inv.exit.dump();
    } else if (!expected.syscalls.empty() && !contains(expected.syscalls, syscall)) {
      v.problem = "seccomp killed it on an unexpected syscall " + syscall;
    } else {
      v.blocked = true;
    }
    return v;
  }
  if (reason == "exit_code") {
    const std::string code = text_of(inv.exit, {"exit_code", "code"});
    v.how = "exited with code " + code;
    if (code == "93") {
      v.problem = "ESCAPED: a program it exec'd ran (exit code 93)";
    } else if (contains(expected.deaths, "exit_code:" + code)) {
      v.blocked = true;
    } else {
      v.problem = "exited with unexpected code " + code + " (" + inv.receipt_error + ")";
    }
    return v;
  }
  v.how = "killed: " + (reason.empty() ? inv.exit.dump() : reason);
  if (!reason.empty() && contains(expected.deaths, reason)) {
    v.blocked = true;
  } else {
    v.problem = "died in a way that does not count as blocked: " + inv.exit.dump() + " (" +
                inv.receipt_error + ")";
  }
  return v;
}

std::string report_table(const std::vector<std::pair<Invocation, Verdict>>& rows) {
  std::ostringstream out;
  out << "| attempt | outcome | expected to be stopped by |\n|---|---|---|\n";
  for (const auto& [inv, verdict] : rows) {
    const Expectation* e = find_expectation(inv.attempt);
    std::string outcome = verdict.problem.empty() ? "blocked: " + verdict.how : verdict.problem;
    out << "| " << inv.attempt << " | " << outcome << " | "
        << (e != nullptr ? e->mechanisms : "(not in the table)") << " |\n";
  }
  return out.str();
}

}  // namespace plugvisor::sandboxtest
