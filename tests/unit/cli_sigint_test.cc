// The plugvisorctl binary itself: Ctrl-C ends `events --follow` with exit 0, and exit codes
// reach the shell. Runs the built executable against an in-process fake admin service.
#include <fcntl.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "plugvisor/admin/v1/admin.grpc.pb.h"
#include "plugvisor/common/unique_fd.h"

using namespace std::chrono_literals;
namespace admin = plugvisor::admin::v1;
using plugvisor::UniqueFd;

extern char** environ;

namespace {

// Replays two events, then holds the stream open until the client goes away.
class FollowingAdmin final : public admin::Admin::Service {
 public:
  grpc::Status WatchEvents(grpc::ServerContext* context, const admin::WatchEventsRequest*,
                           grpc::ServerWriter<admin::Event>* writer) override {
    for (int i = 0; i < 2; ++i) {
      admin::Event e;
      e.set_at_unix_ms(1'714'567'384'000);
      e.set_plugin_id("linkifier");
      e.set_kind("spawn");
      writer->Write(e);
    }
    while (!context->IsCancelled()) std::this_thread::sleep_for(5ms);
    return grpc::Status::OK;
  }
};

// The build tree mirrors the source tree: tests/unit/<test> and cli/plugvisorctl.
std::filesystem::path plugvisorctl_path() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "../../cli/plugvisorctl";
}

// A running plugvisorctl with its stdout on a pipe; killed and reaped if a check fails early.
struct Child {
  pid_t pid = -1;
  UniqueFd out;

  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    out.reset(fds[0]);
    UniqueFd write_end(fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
    // The child must start with default signal handling whatever this test process has.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const std::string exe = plugvisorctl_path().string();
    std::vector<char*> argv{const_cast<char*>(exe.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    REQUIRE(rc == 0);
  }

  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

  // Reads stdout until it holds `lines` newlines or the time is up.
  std::string read_lines(int lines, std::chrono::milliseconds limit) {
    std::string text;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::count(text.begin(), text.end(), '\n') < lines &&
           std::chrono::steady_clock::now() < end) {
      pollfd p{out.get(), POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(out.get(), buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
  }

  // The exit status, or nothing if the child is still running after `limit`.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }
};

}  // namespace

TEST_CASE("events --follow: SIGINT cancels the stream and exits 0") {
  REQUIRE(std::filesystem::exists(plugvisorctl_path()));
  FollowingAdmin service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  REQUIRE(server);

  for (int sig : {SIGINT, SIGTERM}) {
    Child child({"--address", "127.0.0.1:" + std::to_string(port), "events", "--follow"});
    const std::string out = child.read_lines(2, 10s);
    CHECK(std::count(out.begin(), out.end(), '\n') == 2);
    CHECK_THAT(out, Catch::Contains("linkifier"));
    // Still streaming: nothing should end it but the signal.
    CHECK_FALSE(child.wait(200ms).has_value());
    kill(child.pid, sig);
    CHECK(child.wait(10s) == std::optional<int>(0));
  }
  server->Shutdown(std::chrono::system_clock::now() + 1s);
}

TEST_CASE("the binary's exit codes: 1 when unreachable, 2 on usage") {
  REQUIRE(std::filesystem::exists(plugvisorctl_path()));
  Child unreachable({"--address", "unix:/nonexistent/plugvisord.sock", "status"});
  CHECK(unreachable.wait(10s) == std::optional<int>(1));
  Child usage({"status", "--no-such-flag"});
  CHECK(usage.wait(10s) == std::optional<int>(2));
}
