#include "namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "plugvisor/common/unique_fd.h"
#include "status.h"

namespace plugvisor::runner {

int clone_flags(const Namespaces& ns) {
  int flags = 0;
  if (ns.user) flags |= CLONE_NEWUSER;
  if (ns.pid) flags |= CLONE_NEWPID;
  if (ns.mount) flags |= CLONE_NEWNS;
  if (ns.net) flags |= CLONE_NEWNET;
  if (ns.ipc) flags |= CLONE_NEWIPC;
  if (ns.uts) flags |= CLONE_NEWUTS;
  if (ns.cgroup) flags |= CLONE_NEWCGROUP;
  return flags;
}

pid_t clone_process(int flags) {
  // The raw syscall, not glibc's clone(): with a null stack the child returns here like fork's.
  return static_cast<pid_t>(::syscall(SYS_clone, static_cast<unsigned long>(flags) | SIGCHLD,
                                      nullptr, nullptr, nullptr, 0UL));
}

void join_netns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail("netns", errno, path);
  if (::setns(fd.get(), CLONE_NEWNET) != 0) fail("netns", errno, path);
}

int make_netns(const std::string& path) {
  UniqueFd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0444));
  if (!file) {
    std::fprintf(stderr, "plugvisor-runner: %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  file.reset();
  // A child unshares the network namespace and pins it on `path` in our (the host's) mount
  // namespace; the namespace then lives as long as that bind mount does.
  const pid_t child = clone_process(0);
  if (child == 0) {
    if (::unshare(CLONE_NEWNET) != 0) std::_Exit(2);
    if (::mount("/proc/self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0) std::_Exit(3);
    std::_Exit(0);
  }
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "plugvisor-runner: cannot create a network namespace on %s (%s)\n",
                 path.c_str(), WIFEXITED(status) && WEXITSTATUS(status) == 2 ? "unshare" : "mount");
    return 1;
  }
  return 0;
}

namespace {

void write_proc_file(pid_t child, const char* name, const std::string& content) {
  const std::string path = "/proc/" + std::to_string(child) + "/" + name;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) fail("uid_map", errno, path);
  // Each map must arrive in one write(2).
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    fail("uid_map", errno, path + " <- " + content);
  }
}

}  // namespace

void write_id_maps(pid_t child, uid_t host_uid, gid_t host_gid) {
  // "deny" first: the child may then never call setgroups(2), so it cannot pick up (or drop,
  // to escape a negative ACL) supplementary groups; we already cleared them before clone.
  write_proc_file(child, "setgroups", "deny");
  write_proc_file(child, "uid_map", "0 " + std::to_string(host_uid) + " 1\n");
  write_proc_file(child, "gid_map", "0 " + std::to_string(host_gid) + " 1\n");
}

}  // namespace plugvisor::runner
