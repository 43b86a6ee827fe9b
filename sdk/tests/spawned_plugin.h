// Test helper: starts a plugin binary the way plugvisord does (fd 3 = plugin.v1 socketpair end,
// fd 4 = host.v1 socketpair end, both non-blocking) and talks plugin.v1 to it.
#pragma once

#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "plugvisor/common/unique_fd.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"

extern char** environ;

namespace plugvisor::sdk::test {

namespace pb = ::plugvisor::plugin::v1;

inline std::string plugin_path(const std::string& name) {
  return std::string(PLUGVISOR_PLUGIN_DIR) + "/" + name;
}

// Awaits a condition that only polling can observe (another process's state), checking every
// few milliseconds; true as soon as it holds, false once `timeout` has passed without it.
// Timeouts given to it should be generous: on success it returns at once anyway.
template <typename Pred>
bool wait_until(Pred&& condition, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// A path that does not exist until release(): the echo fixture's {"_await_file": path} holds
// its call in flight until then, so a test decides when a call ends instead of guessing.
class GoFile {
 public:
  GoFile() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("plugvisor-go-" + std::to_string(::getpid()) + "-" + std::to_string(++counter)))
                .string();
    std::filesystem::remove(path_);
  }
  ~GoFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  GoFile(const GoFile&) = delete;
  GoFile& operator=(const GoFile&) = delete;

  const std::string& path() const { return path_; }
  void release() const {
    if (!std::ofstream(path_)) throw std::runtime_error("cannot create " + path_);
  }

 private:
  std::string path_;
};

class SpawnedPlugin {
 public:
  // stdout_fd / stderr_fd >= 0 become the child's stdout / stderr (e.g. a pipe the test
  // reads). Without `host_fd`, fd 4 is /dev/null: a plugin started with no host connection.
  SpawnedPlugin(const std::string& path, std::vector<std::string> args = {}, int stdout_fd = -1,
                int stderr_fd = -1, bool host_fd = true) {
    auto [mine, theirs] = pair();
    auto [host_mine, host_theirs] = pair();
    std::vector<std::string> argv_s{path};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears FD_CLOEXEC on the target; the sources are >= 10 and close on exec.
    posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
    UniqueFd opened(::open("/dev/null", O_RDWR | O_CLOEXEC));
    UniqueFd dev_null(::fcntl(opened.get(), F_DUPFD_CLOEXEC, 10));  // above 3 and 4, as below
    posix_spawn_file_actions_adddup2(&actions, host_fd ? host_theirs.get() : dev_null.get(), 4);
    if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
    const int rc = posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn " + path + " failed");
    host_ = std::move(host_mine);
    // gRPC takes ownership of the fd.
    channel_ = grpc::CreateInsecureChannelFromFd("plugin", mine.release());
    stub_ = pb::Plugin::NewStub(channel_);
  }
  ~SpawnedPlugin() {
    stub_.reset();
    channel_.reset();
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  SpawnedPlugin(const SpawnedPlugin&) = delete;
  SpawnedPlugin& operator=(const SpawnedPlugin&) = delete;

  pb::Plugin::Stub& stub() { return *stub_; }
  // Our end of the plugin's fd 4, for a test that serves host.v1 to it.
  UniqueFd take_host_fd() { return std::move(host_); }
  pid_t pid() const { return pid_; }
  // Drops our end of fd 3, as a dying supervisor would.
  void hang_up() {
    stub_.reset();
    channel_.reset();
  }

  grpc::Status describe(pb::DescribeResponse* out, std::vector<uint32_t> versions = {1},
                        const std::string& settings_json = "{}") {
    pb::DescribeRequest req;
    for (auto v : versions) req.add_supported_protocol_versions(v);
    req.set_settings_json(settings_json);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->Describe(&ctx, req, out);
  }

  grpc::Status invoke(const std::string& hook, const std::string& data_json,
                      pb::InvokeResponse* out,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10),
                      const std::string& invocation_id = "inv-1",
                      const std::string& invocation_token = {}) {
    pb::InvokeRequest req;
    req.set_hook(hook);
    req.set_data_json(data_json);
    req.set_timeout_ms(static_cast<uint32_t>(timeout.count()));
    req.mutable_context()->set_invocation_id(invocation_id);
    req.mutable_context()->set_tenant_id("t1");
    req.mutable_context()->set_invocation_token(invocation_token);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub_->Invoke(&ctx, req, out);
  }

  grpc::Status shutdown(uint32_t grace_ms) {
    pb::ShutdownRequest req;
    req.set_grace_ms(grace_ms);
    pb::ShutdownResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->Shutdown(&ctx, req, &resp);
  }

  std::vector<std::string> in_flight() {
    pb::InFlightRequest req;
    pb::InFlightResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!stub_->InFlight(&ctx, req, &resp).ok()) return {"<InFlight failed>"};
    return {resp.invocation_ids().begin(), resp.invocation_ids().end()};
  }

  // How the process ended, for assertions that say what went wrong: "exit 0", "signal 15",
  // or "still running" after `timeout`.
  std::string wait_exit_text(std::chrono::milliseconds timeout) {
    const auto status = wait_exit(timeout);
    if (!status) return "still running";
    if (WIFEXITED(*status)) return "exit " + std::to_string(WEXITSTATUS(*status));
    if (WIFSIGNALED(*status)) return "signal " + std::to_string(WTERMSIG(*status));
    return "wait status " + std::to_string(*status);
  }

  // The raw wait status once the process has exited, or nullopt after `timeout`. Sleeps in
  // poll() on a pidfd, which becomes readable when the process exits.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    if (exit_status_) return exit_status_;
    const auto until = std::chrono::steady_clock::now() + timeout;
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = status;
        return exit_status_;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds::zero()) return std::nullopt;
      if (pidfd) {
        pollfd pfd{pidfd.get(), POLLIN, 0};
        ::poll(&pfd, 1, static_cast<int>(left.count()) + 1);
      } else {  // no pidfd (old kernel, seccomp): look again shortly
        std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(10)));
      }
    }
  }

 private:
  // A connected pair, both non-blocking and close-on-exec, moved above the low fds so dup2 to
  // 3 and 4 can never be a no-op that keeps FD_CLOEXEC.
  static std::pair<UniqueFd, UniqueFd> pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::runtime_error("socketpair failed");
    }
    UniqueFd a(fds[0]), b(fds[1]);
    return {UniqueFd(::fcntl(a.get(), F_DUPFD_CLOEXEC, 10)),
            UniqueFd(::fcntl(b.get(), F_DUPFD_CLOEXEC, 10))};
  }

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  UniqueFd host_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Plugin::Stub> stub_;
};

}  // namespace plugvisor::sdk::test
