#include "child.h"

#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace plugvisor::bench {

namespace {

constexpr int kPluginFd = 3;
constexpr int kHostFd = 4;

// An fd that posix_spawn will dup2 onto 0-4 must not already be one of them: dup2 onto itself
// keeps FD_CLOEXEC and the child would start without it.
Result<UniqueFd> above_child_fds(UniqueFd fd) {
  if (fd.get() > kHostFd) return fd;
  const int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, kHostFd + 1);
  if (moved < 0) return Error::errno_error("fcntl(F_DUPFD_CLOEXEC)", errno);
  return UniqueFd(moved);
}

struct Pair {
  UniqueFd parent;
  UniqueFd child;
};

// The same socketpair as supervisor/process/plugin_process.cc builds, so that the spawn row
// measures what plugvisord pays.
Result<Pair> nonblocking_socketpair() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Error::errno_error("socketpair", errno);
  }
  UniqueFd a(sv[0]), b(sv[1]);
  for (int fd : {a.get(), b.get()}) {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      return Error::errno_error("fcntl(O_NONBLOCK)", errno);
    }
  }
  auto child = above_child_fds(std::move(b));
  if (!child) return child.error();
  return Pair{std::move(a), std::move(*child)};
}

Result<UniqueFd> open_log(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) return Error::errno_error("open " + path, errno);
  return above_child_fds(std::move(fd));
}

// RAII for posix_spawn's attribute objects.
struct SpawnAttrs {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnAttrs() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnAttrs(const SpawnAttrs&) = delete;
  SpawnAttrs& operator=(const SpawnAttrs&) = delete;
};

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// posix_spawn with stdin /dev/null, `fds` (child fd -> our fd) dup2'ed, everything else closed
// and default signal dispositions, as the supervisor's Reaper::spawn does.
Result<pid_t> spawn_with_fds(const SpawnRequest& request,
                             const std::vector<std::pair<int, int>>& fds) {
  if (request.argv.empty()) return Error{"spawn: empty argv"};
  SpawnAttrs sa;
  posix_spawn_file_actions_addopen(&sa.actions, 0, "/dev/null", O_RDONLY, 0);
  int first_unused = 3;
  for (const auto& [child_fd, parent_fd] : fds) {
    posix_spawn_file_actions_adddup2(&sa.actions, parent_fd, child_fd);
    first_unused = std::max(first_unused, child_fd + 1);
  }
  posix_spawn_file_actions_addclosefrom_np(&sa.actions, first_unused);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&sa.attr, &empty);
  posix_spawnattr_setsigdefault(&sa.attr, &defaults);
  posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  auto argv = c_strings(request.argv);
  auto envp = c_strings(request.env);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &sa.actions, &sa.attr, argv.data(), envp.data());
  if (rc != 0) return Error::errno_error("posix_spawn " + request.argv[0], rc);
  return pid;
}

}  // namespace

Result<TempDir> TempDir::create() {
  std::string tmpl = "/tmp/plugvisor-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return Error::errno_error("mkdtemp", errno);
  TempDir dir(tmpl);
  if (chmod(tmpl.c_str(), 0755) != 0) return Error::errno_error("chmod " + tmpl, errno);
  return dir;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    whole_group_ = o.whole_group_;
    status_ = std::exchange(o.status_, std::nullopt);
  }
  return *this;
}

void ChildProcess::signal(int sig) const {
  if (pid_ <= 0 || status_) return;
  if (whole_group_ && ::kill(-pid_, sig) == 0) return;
  ::kill(pid_, sig);
}

std::optional<int> ChildProcess::poll() {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
  return status_;
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  if (status_ || pid_ <= 0) return status_;
  // A pidfd becomes readable when the process exits: no polling loop, no SIGCHLD handler.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(timeout.count()));
    return poll();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!poll() && std::chrono::steady_clock::now() < deadline) usleep(10'000);
  return status_;
}

void ChildProcess::kill_and_reap() {
  if (pid_ <= 0 || status_) return;
  signal(SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = status;
}

Result<PluginChild> spawn_plugin_child(const SpawnRequest& request) {
  auto plugin_pair = nonblocking_socketpair();
  if (!plugin_pair) return plugin_pair.error();
  auto host_pair = nonblocking_socketpair();
  if (!host_pair) return host_pair.error();
  auto log = open_log(request.log_path);
  if (!log) return log.error();
  auto pid = spawn_with_fds(request, {{1, log->get()},
                                      {2, log->get()},
                                      {kPluginFd, plugin_pair->child.get()},
                                      {kHostFd, host_pair->child.get()}});
  if (!pid) return pid.error();
  PluginChild child;
  child.process = ChildProcess(*pid, /*whole_group=*/true);
  // gRPC takes ownership of the fd and closes it with the channel.
  child.channel = grpc::CreateInsecureChannelFromFd("bench-plugin", plugin_pair->parent.release());
  child.host_end = std::move(host_pair->parent);
  return child;
}

Result<RelayChain> spawn_relay_chain(const SpawnRequest& front, const SpawnRequest& back) {
  auto bench_pair = nonblocking_socketpair();  // us <-> front's fd 3
  if (!bench_pair) return bench_pair.error();
  auto hop_pair = nonblocking_socketpair();  // front's fd 4 <-> back's fd 3
  if (!hop_pair) return hop_pair.error();
  // Both ends of this pair go to children, so both must stay clear of the fds they land on.
  auto hop_front = above_child_fds(std::move(hop_pair->parent));
  if (!hop_front) return hop_front.error();
  auto back_log = open_log(back.log_path);
  if (!back_log) return back_log.error();
  auto front_log = open_log(front.log_path);
  if (!front_log) return front_log.error();

  RelayChain chain;
  auto back_pid = spawn_with_fds(
      back, {{1, back_log->get()}, {2, back_log->get()}, {kPluginFd, hop_pair->child.get()}});
  if (!back_pid) return back_pid.error();
  chain.back = ChildProcess(*back_pid, /*whole_group=*/false);
  auto front_pid = spawn_with_fds(front, {{1, front_log->get()},
                                          {2, front_log->get()},
                                          {kPluginFd, bench_pair->child.get()},
                                          {kHostFd, hop_front->get()}});
  // On failure `chain` kills and reaps the back process on the way out.
  if (!front_pid) return front_pid.error();
  chain.front = ChildProcess(*front_pid, /*whole_group=*/false);
  // Our copies of the hop pair close when this returns. gRPC owns our end of the bench pair.
  chain.channel = grpc::CreateInsecureChannelFromFd("bench-relay", bench_pair->parent.release());
  return chain;
}

Result<ChildProcess> spawn_process(const SpawnRequest& request) {
  auto log = open_log(request.log_path);
  if (!log) return log.error();
  auto pid = spawn_with_fds(request, {{1, log->get()}, {2, log->get()}});
  if (!pid) return pid.error();
  return ChildProcess(*pid, /*whole_group=*/false);
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

void set_environment_variable(std::vector<std::string>& env, const std::string& name,
                              const std::string& value) {
  const std::string prefix = name + "=";
  std::erase_if(env, [&](const std::string& e) { return e.starts_with(prefix); });
  env.push_back(prefix + value);
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

std::string tail_of_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > max_bytes ? "..." + text.substr(text.size() - max_bytes) : text;
}

}  // namespace plugvisor::bench
