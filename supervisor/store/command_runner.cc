// direct_command_runner(): the default CommandRunner for the embedded cluster's tools.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "store/embedded_postgres.h"

extern char** environ;

namespace plugvisor::store {
namespace {

struct FileActions {
  posix_spawn_file_actions_t actions;
  FileActions() { posix_spawn_file_actions_init(&actions); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

Result<int> run_and_wait(const std::vector<std::string>& argv) {
  if (argv.empty()) return Error{"run: empty command"};
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  FileActions fa;
  // No stdin (nothing may wait for a terminal), no fds of ours (postgres, started through
  // pg_ctl, lives on and would keep them open), and a cwd every user can enter.
  posix_spawn_file_actions_addopen(&fa.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa.actions, 3);
  posix_spawn_file_actions_addchdir_np(&fa.actions, "/");

  // The caller's thread may block signals (the supervisor handles them in one place); the
  // child must not inherit that, or postgres would ignore pg_ctl's stop signals.
  SpawnAttr sa;
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&sa.attr, &empty);
  posix_spawnattr_setsigdefault(&sa.attr, &all);
  posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  const int err = posix_spawnp(&pid, args[0], &fa.actions, &sa.attr, args.data(), environ);
  if (err != 0) return Error::errno_error("spawn " + argv[0], err);

  int status = 0;
  // Only this pid: another part of the process may own other children.
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Error::errno_error("wait for " + argv[0], errno);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return Error{"wait for " + argv[0] + ": unexpected status " + std::to_string(status)};
}

}  // namespace

CommandRunner direct_command_runner() { return &run_and_wait; }

}  // namespace plugvisor::store
