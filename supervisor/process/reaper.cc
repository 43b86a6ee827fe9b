#include "process/reaper.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <spdlog/spdlog.h>

#include "plugvisor/common/unique_fd.h"

namespace plugvisor::process {

namespace {

// RAII for the spawn attribute objects.
struct SpawnActions {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnActions() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnActions() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
};

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

Reaper::Reaper(boost::asio::io_context& io) : io_(io), sigchld_(io, SIGCHLD) {}

void Reaper::start() { arm(); }

void Reaper::arm() {
  sigchld_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;  // cancelled at shutdown
    reap();
    arm();
  });
}

void Reaper::reap() {
  // SIGCHLD coalesces: one signal may stand for many exits, so drain them all.
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    ExitCallback cb;
    {
      std::lock_guard lock(mu_);
      auto it = waiting_.find(pid);
      if (it != waiting_.end()) {
        cb = std::move(it->second);
        waiting_.erase(it);
      }
    }
    if (cb) {
      cb(status);
    } else {
      spdlog::debug("reaped orphan pid {} ({})", pid, describe_wait_status(status));
    }
  }
}

Result<pid_t> Reaper::spawn(const SpawnSpec& spec, ExitCallback on_exit) {
  if (spec.argv.empty()) return Error{"spawn: empty argv"};
  SpawnActions sa;
  if (!spec.fds.contains(0)) {
    posix_spawn_file_actions_addopen(&sa.actions, 0, "/dev/null", O_RDONLY, 0);
  }
  int first_unused = 3;
  for (const auto& [child_fd, parent_fd] : spec.fds) {
    posix_spawn_file_actions_adddup2(&sa.actions, parent_fd, child_fd);
    first_unused = std::max(first_unused, child_fd + 1);
  }
  // Nothing of ours that is not close-on-exec (gRPC's, libpq's) may leak into a child.
  posix_spawn_file_actions_addclosefrom_np(&sa.actions, first_unused);
  // The child starts with default dispositions and an empty mask whatever gRPC or Asio did
  // to ours (an inherited SIG_IGN for SIGPIPE would survive execve).
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&sa.attr, &empty);
  posix_spawnattr_setsigdefault(&sa.attr, &defaults);
  posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  auto argv = c_strings(spec.argv);
  auto envp = c_strings(spec.env);
  pid_t pid = 0;
  // Held across the spawn so the SIGCHLD of a child that dies at once is routed, not orphaned.
  std::lock_guard lock(mu_);
  int rc = posix_spawn(&pid, argv[0], &sa.actions, &sa.attr, argv.data(), envp.data());
  if (rc != 0) return Error::errno_error("posix_spawn " + spec.argv[0], rc);
  waiting_.emplace(pid, std::move(on_exit));
  return pid;
}

Result<int> Reaper::run(const std::vector<std::string>& argv) {
  auto done = std::make_shared<std::promise<int>>();
  auto exited = done->get_future();
  SpawnSpec spec{argv, {}, {}};
  for (char** e = environ; *e != nullptr; ++e) spec.env.emplace_back(*e);
  auto pid = spawn(spec, [done](int status) { done->set_value(status); });
  if (!pid) return pid.error();
  int status = exited.get();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return Error{argv[0] + " " + describe_wait_status(status)};
}

Result<std::string> Reaper::run_capture(const std::vector<std::string>& argv) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Error::errno_error("pipe2", errno);
  UniqueFd read_end(p[0]), write_end(p[1]);
  auto done = std::make_shared<std::promise<int>>();
  auto exited = done->get_future();
  SpawnSpec spec{argv, {}, {{1, write_end.get()}, {2, 2}}};
  for (char** e = environ; *e != nullptr; ++e) spec.env.emplace_back(*e);
  auto pid = spawn(spec, [done](int status) { done->set_value(status); });
  if (!pid) return pid.error();
  write_end.reset();
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::errno_error("read from " + argv[0], errno);
    out.append(buf, static_cast<size_t>(n));
  }
  int status = exited.get();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Error{argv[0] + " " + describe_wait_status(status)};
  }
  return out;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return std::string("killed by SIG") + (abbrev ? abbrev : std::to_string(sig).c_str()) +
           (WCOREDUMP(status) ? " (core dumped)" : "");
  }
  return "changed state " + std::to_string(status);
}

}  // namespace plugvisor::process
