// Process escapes: reaching other processes (the supervisor, the neighbouring plugin), gaining
// privileges, and running programs other than the plugin's own. The exec attempts replace the
// probe when they get through, so they are `fatal`: the test then reads the plugin's exit code.
#include <elf.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "attempt.h"
#include "plugvisor/common/unique_fd.h"

extern char** environ;

namespace plugvisor::escape_probe {
namespace {

// Resolves data.target_pids.<who>; an Outcome with a detail means "stop here".
Outcome target(const Input& in, const std::string& who, pid_t& pid) {
  pid = in.target_pid(who);
  if (pid <= 0) return inconclusive("the test passed no target_pids." + who);
  if (is_self_or_init(pid)) {
    return blocked("pid " + std::to_string(pid) + " is this process or its init here: the " + who +
                   " is not visible");
  }
  return Outcome{};
}

std::string label(const std::string& who, pid_t pid) {
  return "the " + who + " (pid " + std::to_string(pid) + ")";
}

Outcome kill_target(const Input& in, const std::string& who) {
  pid_t pid = 0;
  if (Outcome o = target(in, who, pid); !o.detail.empty()) return o;
  // Signal 0 goes through exactly the permission checks of SIGKILL without hurting anyone.
  if (::kill(pid, 0) != 0) return blocked(failed("kill(" + label(who, pid) + ", 0)", errno));
  return escaped("may signal " + label(who, pid) + " (kill with signal 0 succeeded)");
}

Outcome ptrace_target(const Input& in, const std::string& who) {
  pid_t pid = 0;
  if (Outcome o = target(in, who, pid); !o.detail.empty()) return o;
  // A tracer is a thread: attach from a thread of our own that then ends, which detaches it
  // without ever stopping the target (PTRACE_SEIZE does not stop it either).
  long rc = -1;
  int err = 0;
  std::thread([&] {
    rc = ::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr);
    err = errno;
  }).join();
  if (rc != 0) return blocked(failed("ptrace(PTRACE_SEIZE, " + label(who, pid) + ")", err));
  return escaped("attached to " + label(who, pid) + " with PTRACE_SEIZE (then detached)");
}

// The start of the target's code, from /proc/PID/stat (the kernel shows it only to those who
// may read the process's memory); a guess otherwise.
uintptr_t code_address(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    // Fields after the command start at field 3; start_code is field 26.
    for (int i = 3; i <= 26 && fields >> field; ++i) {
      if (i == 26 && field != "0") return static_cast<uintptr_t>(std::stoull(field));
    }
  }
  return 0x400000;
}

Outcome process_vm_readv_target(const Input& in, const std::string& who) {
  pid_t pid = 0;
  if (Outcome o = target(in, who, pid); !o.detail.empty()) return o;
  char buffer[8] = {};
  iovec local{buffer, sizeof buffer};
  iovec remote{reinterpret_cast<void*>(code_address(pid)), sizeof buffer};
  ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  // EFAULT comes after the permission check: only the address was wrong.
  if (n >= 0 || errno == EFAULT) {
    return escaped("process_vm_readv on " + label(who, pid) + " passed the permission check" +
                   (n >= 0 ? " and read " + std::to_string(n) + " bytes" : " (EFAULT)"));
  }
  return blocked(failed("process_vm_readv(" + label(who, pid) + ")", errno));
}

Outcome setuid_root(const Input&) {
  if (::setuid(0) != 0) return blocked(failed("setuid(0)", errno) + "; " + capability_summary());
  const long long host = host_uid(::geteuid());
  std::string detail = "setuid(0) returned 0; euid " + std::to_string(::geteuid()) +
                       " is host uid " + std::to_string(host) + "; " + capability_summary();
  return host == 0 ? escaped(detail) : blocked(detail + " (a user namespace's root)");
}

// execve replaces the probe when it works; when it returns, it was refused.
Outcome exec_refused(const std::string& what) { return blocked(failed(what, errno)); }

Outcome exec_sh(const Input&) {
  char arg0[] = "sh", arg1[] = "-c", arg2[] = "exit 93";
  static_assert(kExecEscapedExit == 93, "the shell command exits with kExecEscapedExit");
  char* argv[] = {arg0, arg1, arg2, nullptr};
  ::execve("/bin/sh", argv, environ);
  return exec_refused("execve /bin/sh");
}

Outcome exec_setuid(const Input&) {
  // The test installs a setuid-root copy of the probe next to it; with --suid-check it reports
  // through its exit code whether it runs as host root (kSuidGotRoot) or not (kSuidNoRoot).
  std::string helper = own_dir() + "/escape-probe-suid";
  struct stat st {};
  if (::stat(helper.c_str(), &st) != 0 || (st.st_mode & S_ISUID) == 0) {
    return inconclusive(helper + " is missing or not setuid: the test did not set it up");
  }
  char arg0[] = "escape-probe-suid", arg1[] = "--suid-check";
  char* argv[] = {arg0, arg1, nullptr};
  ::execve(helper.c_str(), argv, environ);
  return exec_refused("execve " + helper + " (setuid root)");
}

// The smallest x86-64 program there is: exit(kExecEscapedExit), as a static ELF of 132 bytes.
std::string tiny_elf() {
  constexpr uint64_t kBase = 0x400000;
  const unsigned char code[] = {0xbf, kExecEscapedExit,
                                0,    0,
                                0,  // mov edi, 93
                                0xb8, 60,
                                0,    0,
                                0,            // mov eax, SYS_exit
                                0x0f, 0x05};  // syscall
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = kBase + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_X;
  ph.p_vaddr = ph.p_paddr = kBase;
  ph.p_filesz = ph.p_memsz = sizeof eh + sizeof ph + sizeof code;
  ph.p_align = 0x1000;
  std::string image(reinterpret_cast<const char*>(&eh), sizeof eh);
  image.append(reinterpret_cast<const char*>(&ph), sizeof ph);
  image.append(reinterpret_cast<const char*>(code), sizeof code);
  return image;
}

Outcome memfd_execveat(const Input&) {
  // MFD_EXEC (Linux 6.3) asks for an executable memfd where vm.memfd_noexec would refuse one.
  constexpr unsigned kMfdExec = 0x10;
  int raw = ::memfd_create("escape-probe", MFD_CLOEXEC | kMfdExec);
  if (raw < 0 && errno == EINVAL) raw = ::memfd_create("escape-probe", MFD_CLOEXEC);
  UniqueFd fd(raw);
  if (!fd) return blocked(failed("memfd_create", errno));
  const std::string image = tiny_elf();
  if (::write(fd.get(), image.data(), image.size()) != static_cast<ssize_t>(image.size())) {
    return inconclusive(failed("write the program into the memfd", errno));
  }
  char arg0[] = "escape-probe-memfd";
  char* argv[] = {arg0, nullptr};
  char empty[] = "";
  ::syscall(SYS_execveat, fd.get(), empty, argv, environ, AT_EMPTY_PATH);
  return exec_refused("execveat(memfd, AT_EMPTY_PATH)");
}

// Looking, not touching: whether the host's processes exist for the plugin at all. Outside a
// pid namespace of its own, sched_getscheduler and getpriority answer for any process (they
// check no permission, and seccomp allows them: glibc and thread pools use them), /proc shows
// it, and kill's permission error (Landlock's signal scope, the other uid) confirms that the
// target exists. In its own pid namespace the host's pids are ESRCH.
Outcome see_host_processes(const Input& in) {
  std::string detail;
  bool seen = false;
  int targets = 0;
  for (const std::string who : {"supervisor", "neighbour"}) {
    const pid_t pid = in.target_pid(who);
    if (pid <= 0) continue;
    ++targets;
    const std::string what = label(who, pid);
    if (is_self_or_init(pid)) {
      detail += "pid " + std::to_string(pid) + " is this process or its init here; ";
      continue;
    }
    if (const int policy = ::sched_getscheduler(pid); policy >= 0) {
      seen = true;
      detail += "sched_getscheduler(" + what + ") = " + std::to_string(policy) + "; ";
    } else {
      detail += failed("sched_getscheduler(" + what + ")", errno) + "; ";
    }
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(pid));
    if (errno == 0) {
      seen = true;
      detail += "getpriority(" + what + ") = " + std::to_string(nice) + "; ";
    } else {
      detail += failed("getpriority(" + what + ")", errno) + "; ";
    }
    if (is_visible_other(pid)) {
      seen = true;
      detail += "/proc/" + std::to_string(pid) + " exists; ";
    }
    const int rc = ::kill(pid, 0);
    const int err = rc == 0 ? 0 : errno;
    if (err != ESRCH) {
      seen = true;
      detail += "kill(" + what + ", 0): " + (err == 0 ? "allowed" : errno_text(err)) +
                ", not ESRCH: it exists; ";
    }
  }
  if (targets == 0) return inconclusive("the test passed no target_pids");
  return seen ? escaped("host processes are visible: " + detail) : blocked(detail);
}

// Looking, not touching: the plugin's user namespace. In the host's own (the test passes its
// inode as host_ns.user) the plugin's uid and gid are host ids as they stand, and its uid_map
// is the identity; in its own, uid 0 maps to one host uid and no other host id exists for it.
Outcome host_user_ns(const Input& in) {
  const unsigned long long mine = own_ns("user"), host = in.host_ns("user");
  std::string map;
  const bool have_map = read_file("/proc/self/uid_map", map);
  while (!map.empty() && (map.back() == '\n' || map.back() == ' ')) map.pop_back();
  std::string detail =
      "uid " + std::to_string(::getuid()) + ", uid_map \"" + (have_map ? map : "unreadable") + "\"";
  if (mine != 0 && host != 0) {
    detail += mine == host ? "; in the host's user namespace (" + std::to_string(host) + ")"
                           : "; own user namespace " + std::to_string(mine) + ", host's " +
                                 std::to_string(host);
    return mine == host ? escaped(detail) : blocked(detail);
  }
  if (!have_map) return inconclusive(detail + ": no /proc to tell the user namespace by");
  // The initial user namespace maps the whole 32-bit range onto itself.
  std::istringstream fields(map);
  unsigned long long first = 1, target = 1, count = 0;
  fields >> first >> target >> count;
  const bool identity = first == 0 && target == 0 && count == 4294967295ULL;
  return identity ? escaped(detail + ": the identity map of the host's user namespace")
                  : blocked(detail);
}

}  // namespace

void add_process_attempts(std::vector<Attempt>& out) {
  const std::string f = "process";
  for (const std::string who : {"supervisor", "neighbour"}) {
    out.push_back({"kill_" + who, f, Kind::may_kill,
                   [who](const Input& in) { return kill_target(in, who); }});
    out.push_back({"ptrace_" + who, f, Kind::may_kill,
                   [who](const Input& in) { return ptrace_target(in, who); }});
    out.push_back({"process_vm_readv_" + who, f, Kind::may_kill,
                   [who](const Input& in) { return process_vm_readv_target(in, who); }});
  }
  out.push_back({"setuid_root", f, Kind::may_kill, setuid_root});
  out.push_back({"exec_sh", f, Kind::fatal, exec_sh});
  out.push_back({"exec_setuid", f, Kind::fatal, exec_setuid});
  out.push_back({"memfd_execveat", f, Kind::fatal, memfd_execveat});
  out.push_back({"see_host_processes", f, Kind::safe, see_host_processes});
  out.push_back({"host_user_ns", f, Kind::safe, host_user_ns});
}

}  // namespace plugvisor::escape_probe
