#include "process/plugin_process.h"

#include <spdlog/spdlog.h>

#include "sandbox/death.h"

#include <fcntl.h>
#include <poll.h>
#include <grpcpp/create_channel_posix.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace plugvisor::process {

namespace {

constexpr int kPluginFd = 3;
constexpr int kHostFd = 4;
constexpr int kSpecFd = 5;
constexpr int kStatusFd = 6;

struct Pair {
  UniqueFd parent;
  UniqueFd child;
};

// Any fd we dup2 onto 3 or 4 must not already be 3 or 4: posix_spawn's dup2 onto itself would
// leave FD_CLOEXEC set and the plugin would start without its channel.
Result<UniqueFd> above_channel_fds(UniqueFd fd) {
  if (fd.get() > kHostFd) return fd;
  int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, kHostFd + 1);
  if (moved < 0) return Error::errno_error("fcntl(F_DUPFD_CLOEXEC)", errno);
  return UniqueFd(moved);
}

Status set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Error::errno_error("fcntl(O_NONBLOCK)", errno);
  }
  return {};
}

Result<Pair> socket_pair() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Error::errno_error("socketpair", errno);
  }
  UniqueFd a(sv[0]), b(sv[1]);
  // gRPC's fd transports require non-blocking sockets on both ends; the flag lives in the open
  // file description, so setting it here also covers the plugin's copy.
  for (int fd : {a.get(), b.get()}) {
    if (auto s = set_nonblocking(fd); !s) return s.error();
  }
  auto child = above_channel_fds(std::move(b));
  if (!child) return child.error();
  return Pair{std::move(a), std::move(*child)};
}

Result<Pair> log_pipe() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Error::errno_error("pipe2", errno);
  UniqueFd read_end(p[0]), write_end(p[1]);
  auto child = above_channel_fds(std::move(write_end));
  if (!child) return child.error();
  return Pair{std::move(read_end), std::move(*child)};
}

Status write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::errno_error("write the sandbox spec", errno);
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

std::vector<std::string> plugin_environment(const config::PluginConfig& plugin) {
  std::vector<std::string> env = {
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "LANG=C.UTF-8",
      "PLUGVISOR_PLUGIN_ID=" + plugin.id,
      "PLUGVISOR_PROTOCOL_VERSIONS=1",
  };
  for (const auto& [k, v] : plugin.env) env.push_back(k + "=" + v);
  return env;
}

Result<std::shared_ptr<PluginProcess>> PluginProcess::spawn(const LaunchEnv& env,
                                                            const config::PluginConfig& plugin,
                                                            std::optional<sandbox::SandboxPlan> plan,
                                                            Reaper::ExitCallback on_exit) {
  auto plugin_channel = socket_pair();
  if (!plugin_channel) return plugin_channel.error();
  auto host_channel = socket_pair();
  if (!host_channel) return host_channel.error();
  auto out = log_pipe();
  if (!out) return out.error();
  auto err = log_pipe();
  if (!err) return err.error();

  SpawnSpec spec;
  spec.argv = {env.runner_path, "--expect-parent", std::to_string(getpid())};
  spec.env = plugin_environment(plugin);
  spec.fds = {{1, out->child.get()},
              {2, err->child.get()},
              {kPluginFd, plugin_channel->child.get()},
              {kHostFd, host_channel->child.get()}};
  Pair spec_pipe, status_pipe;
  if (plan) {
    // The spec travels through a pipe, not argv, so nothing of it shows in ps.
    auto sp = log_pipe();
    if (!sp) return sp.error();
    auto st = log_pipe();
    if (!st) return st.error();
    spec_pipe = std::move(*sp);
    status_pipe = std::move(*st);
    // Written after the spawn (see below): the runner waits for it.
    auto read_end = above_channel_fds(std::move(spec_pipe.parent));
    if (!read_end) return read_end.error();
    spec_pipe.parent = std::move(*read_end);
    spec.fds[kSpecFd] = spec_pipe.parent.get();
    spec.fds[kStatusFd] = status_pipe.child.get();
    if (plan->netns_fd >= 0) spec.fds[sandbox::kRunnerNetnsFd] = plan->netns_fd;
    spec.argv.insert(spec.argv.end(), {"--spec-fd", std::to_string(kSpecFd), "--status-fd",
                                       std::to_string(kStatusFd)});
  } else {
    for (const auto& [k, v] : plugin.env) {
      spec.argv.push_back("--keep-env");
      spec.argv.push_back(k);
    }
  }
  spec.argv.push_back("--");
  spec.argv.push_back(plugin.executable);
  spec.argv.insert(spec.argv.end(), plugin.args.begin(), plugin.args.end());

  auto pid = env.reaper.spawn(spec, std::move(on_exit));
  if (!pid) return pid.error();
  if (plan) {
    const std::string* spec_json = &plan->spec_json;
    if (plan->cgroup) {
      if (auto s = plan->cgroup->join(*pid); !s) {
        spdlog::warn("plugin {}: joining its cgroup from the supervisor failed ({}); the runner "
                     "will try and report it",
                     plugin.id, s.error().message);
        spec_json = &plan->spec_json_runner_joins;
      }
    }
    // A failed write means the runner is already gone; its exit says why.
    if (auto s = write_all(spec_pipe.child.get(), *spec_json); !s) {
      spdlog::warn("plugin {}: {}", plugin.id, s.error().message);
    }
    spec_pipe.child.reset();  // EOF after the spec
  }

  auto proc = std::make_shared<PluginProcess>(Key{});
  proc->pid_ = *pid;
  // The child's copies are in the child now; ours would keep the pipes open after it exits.
  plugin_channel->child.reset();
  host_channel->child.reset();
  out->child.reset();
  err->child.reset();
  spec_pipe.parent.reset();
  status_pipe.child.reset();
  proc->status_ = std::move(status_pipe.parent);
  proc->plan_ = std::move(plan);

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(env.max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(env.max_message_bytes));
  proc->hangup_watch_ = UniqueFd(fcntl(plugin_channel->parent.get(), F_DUPFD_CLOEXEC, kHostFd + 1));
  proc->channel_ = grpc::CreateCustomInsecureChannelFromFd("plugin:" + plugin.id,
                                                           plugin_channel->parent.release(), args);
  proc->stub_ = plugvisor::plugin::v1::Plugin::NewStub(proc->channel_);
  env.host.attach(plugin.id, std::move(host_channel->parent));
  proc->stdout_ = LogCapture::start(env.io, plugin.id, "stdout", std::move(out->parent), plugin.logs);
  proc->stderr_ = LogCapture::start(env.io, plugin.id, "stderr", std::move(err->parent), plugin.logs);
  return proc;
}

PluginProcess::~PluginProcess() {
  // Never leave a process behind us, even if the owner forgot to stop it.
  if (!exited_) signal(SIGKILL);
}

void PluginProcess::signal(int sig) const {
  if (pid_ <= 0 || exited_) return;
  // Until the runner's setsid() the group does not exist yet; then the pid alone will do.
  if (::kill(-pid_, sig) != 0 && errno == ESRCH) ::kill(pid_, sig);
}

bool PluginProcess::connection_lost() const {
  if (exited_) return true;
  if (!hangup_watch_) return false;
  // gRPC can report a reset stream a moment before the dying process's socket is closed; a short
  // wait (only ever on a failed call) lets the hang-up arrive.
  pollfd p{hangup_watch_.get(), POLLRDHUP, 0};
  return ::poll(&p, 1, 50) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

uint64_t PluginProcess::log_lines_dropped() const {
  return (stdout_ ? stdout_->dropped() : 0) + (stderr_ ? stderr_->dropped() : 0);
}

}  // namespace plugvisor::process

namespace plugvisor::process {

std::vector<nlohmann::json> PluginProcess::drain_status() {
  std::vector<nlohmann::json> out;
  if (!status_) return out;
  // The runner has exited, so everything it wrote is in the pipe and read() ends at EOF.
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(status_.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  status_.reset();
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    auto line = nlohmann::json::parse(text.substr(start, nl - start), nullptr, false);
    if (line.is_object()) out.push_back(std::move(line));
  }
  return out;
}

nlohmann::json PluginProcess::death_detail(int wait_status,
                                           const std::vector<nlohmann::json>& status) const {
  nlohmann::json report;
  for (const auto& line : status) {
    if (line.contains("exit")) report = line["exit"];
  }
  sandbox::CgroupCounters now, before;
  if (plan_ && plan_->cgroup) {
    now = plan_->cgroup->counters();
    before = plan_->counters_at_start;
  }
  return sandbox::classify_death(wait_status, report, before, now);
}

}  // namespace plugvisor::process
