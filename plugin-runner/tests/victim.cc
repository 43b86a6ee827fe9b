#include "victim.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

extern char** environ;

namespace plugvisor::runner_test {

namespace {

void say(const std::string& key, const std::string& value) {
  std::printf("%s=%s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
}

std::string result(long rc) { return rc < 0 ? std::string(strerrorname_np(errno)) : "ok"; }

std::string status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) {
      auto v = line.substr(name.size() + 1);
      return v.substr(v.find_first_not_of(" \t"));
    }
  }
  return "?";
}

// What the plugin sees: ids, caps, seccomp, its root, a few attempts that must fail politely.
void describe_world() {
  say("pid", std::to_string(::getpid()));
  std::string fds;
  for (int fd = 0; fd < 1024; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) fds += (fds.empty() ? "" : ",") + std::to_string(fd);
  }
  say("fds", fds);
  std::string env;
  for (char** e = environ; *e != nullptr; ++e) {
    env += (env.empty() ? "" : ",") + std::string(*e).substr(0, std::string(*e).find('='));
  }
  say("env", env);
  say("uid", std::to_string(::getuid()));
  say("gid", std::to_string(::getgid()));
  char host[128] = {};
  ::gethostname(host, sizeof host - 1);
  say("hostname", host);
  for (const char* f : {"CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"}) {
    say(f, status_field(f));
  }
  // Landlock grants nothing on "/" itself, so it cannot be listed; probe for host paths.
  std::error_code ec;
  std::filesystem::directory_iterator root_dir("/", ec);
  say("list_root", ec ? strerrorname_np(ec.value()) : "ok");
  struct stat st {};
  for (const char* p : {"/home", "/root", "/etc/passwd", "/var", "/sys", "/run"}) {
    say(std::string("stat_") + (p + 1), result(::stat(p, &st)));
  }
  say("stat_lib64_ld", result(::stat("/lib64/ld-linux-x86-64.so.2", &st)));
  std::string procs;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const auto n = e.path().filename().string();
    if (std::isdigit(static_cast<unsigned char>(n[0]))) procs += (procs.empty() ? "" : ",") + n;
  }
  say("proc_pids", procs);
  say("open_etc_shadow", result(::open("/etc/shadow", O_RDONLY)));
  say("write_usr", result(::open("/usr/plugvisor-escape", O_WRONLY | O_CREAT, 0644)));
  say("write_plugin", result(::open("/plugin/plugvisor-escape", O_WRONLY | O_CREAT, 0644)));
  say("write_data", result(::open("/data/ok", O_WRONLY | O_CREAT, 0644)));
  say("write_tmp", result(::open("/tmp/ok", O_WRONLY | O_CREAT, 0644)));
  say("write_dev_null", result(::write(::open("/dev/null", O_WRONLY), "x", 1)));
  say("trunc_dev_null", result(::open("/dev/null", O_WRONLY | O_TRUNC)));
  char random[8];
  say("read_urandom", result(::read(::open("/dev/urandom", O_RDONLY), random, sizeof random)));
  say("mkdir_root", result(::mkdir("/escape", 0755)));
  say("socket_inet", result(::socket(AF_INET, SOCK_STREAM, 0)));
  say("socket_inet6", result(::socket(AF_INET6, SOCK_DGRAM, 0)));
  say("socket_unix", result(::socket(AF_UNIX, SOCK_STREAM, 0)));
  say("kill_init", result(::kill(1, SIGTERM)));
  std::string threads = "ok";
  std::thread([] {}).join();
  say("thread", threads);
  std::ifstream cg("/proc/self/cgroup");
  std::string line, cgroups;
  while (std::getline(cg, line)) cgroups += (cgroups.empty() ? "" : ";") + line;
  say("cgroup", cgroups);
}

// A pathname unix socket under /tmp, then an abstract one (Landlock's scope refuses the
// connect to an abstract socket outside the domain; bind inside works).
void unix_sockets() {
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, "/tmp/sock");
  say("bind_path", result(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr)));
}

}  // namespace

int victim_main(const std::string& action) {
  if (action == "world") {
    describe_world();
    unix_sockets();
  } else if (action == "hold") {
    say("ready", "1");
    for (;;) ::pause();
  } else if (action == "exit7") {
    return 7;
  } else if (action == "ptrace") {
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
  } else if (action == "memfd") {
    ::syscall(SYS_memfd_create, "x", 0);
  } else if (action == "io_uring") {
    io_uring_params p{};
    ::syscall(SYS_io_uring_setup, 4, &p);
  } else if (action == "fork") {
    ::fork();
  } else if (action == "child_ptrace") {
    // With seccomp.allow_spawn: a child's denial kills the child, not the plugin.
    const pid_t child = ::fork();
    if (child == 0) {
      ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      std::_Exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    say("child", WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                     : "exit " + std::to_string(WEXITSTATUS(status)));
  } else if (action == "unshare") {
    ::syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
  } else if (action == "tiocsti") {
    char c = 'x';
    ::ioctl(0, TIOCSTI, &c);
  } else if (action == "int80") {
    // getpid through the i386 entry point: another architecture, so a denial.
    long ret = 20;
    asm volatile("int $0x80" : "+a"(ret) : : "memory");
  } else {
    say("unknown_action", action);
    return 2;
  }
  say("survived", action);
  return 0;
}

}  // namespace plugvisor::runner_test
