// Plugin::run: serve plugin.v1 on the inherited fd 3 until the supervisor says stop.
#include <absl/synchronization/mutex.h>
#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string_view>
#include <vector>

#include "host_client.h"
#include "lifecycle.h"
#include "plugin_server.h"
#include "plugvisor/sdk/plugin.h"
#include "service.h"
#include "watchers.h"

namespace plugvisor::sdk {
namespace {

constexpr int kPluginFd = 3;  // plugin.v1: we serve
constexpr int kHostFd = 4;    // host.v1: we are the client

bool is_socket(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

void print_not_supervised(const Plugin& plugin, const char* argv0) {
  std::cerr << argv0 << ": this is a plugvisor plugin (" << plugin.id() << " " << plugin.version()
            << "); plugvisord starts it and talks to it over fd 3, which is not a socket here.\n"
            << "List it in plugvisord's config to run it, test its handlers with the SDK's "
               "harness, or run `"
            << argv0 << " --describe` to see what it handles.\n";
}

// --describe: what Describe would say, for operators and packaging scripts.
void print_description(const Plugin& plugin) {
  Json hooks = Json::array();
  for (const auto& r : plugin.registrations()) {
    hooks.push_back(
        {{"hook", r.hook},
         {"priority", r.options.priority},
         {"fail_policy",
          r.options.fail_policy == FailPolicy::fail_closed ? "fail_closed" : "fail_open"}});
  }
  Json out = {{"id", plugin.id()},
              {"version", plugin.version()},
              {"protocol_versions", detail::kProtocolVersions},
              {"hooks", hooks}};
  std::cout << out.dump(2) << std::endl;
}

// The supervisor's fds must not leak into anything the plugin itself spawns.
void prepare_fd(int fd, bool nonblocking) {
  const int fd_flags = ::fcntl(fd, F_GETFD);
  if (fd_flags >= 0) ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC);
  if (!nonblocking) return;
  const int fl_flags = ::fcntl(fd, F_GETFL);
  if (fl_flags >= 0) ::fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK);
}

// Restores the caller's signal mask when run() returns.
class SignalMaskGuard {
 public:
  explicit SignalMaskGuard(const sigset_t& block) { pthread_sigmask(SIG_BLOCK, &block, &old_); }
  ~SignalMaskGuard() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalMaskGuard(const SignalMaskGuard&) = delete;
  SignalMaskGuard& operator=(const SignalMaskGuard&) = delete;

 private:
  sigset_t old_{};
};

// Gives the plugin its host connection for the duration of run().
class HostConnection {
 public:
  HostConnection(Plugin& plugin, std::shared_ptr<HostApi> host) : plugin_(plugin) {
    plugin_.set_host(std::move(host));
  }
  ~HostConnection() { plugin_.set_host(nullptr); }
  HostConnection(const HostConnection&) = delete;
  HostConnection& operator=(const HostConnection&) = delete;

 private:
  Plugin& plugin_;
};

// Once the handlers are drained: how long the answers still being sent (the drained calls',
// Shutdown's own) may take. The rest of the grace, and at least a second on a busy machine.
std::chrono::steady_clock::time_point answers_deadline(const detail::Lifecycle& lifecycle) {
  const auto at_least = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  return std::max(lifecycle.stop_deadline(), at_least);
}

// How long to wait, at most, for the supervisor to read the answers of the stop. A supervisor
// that is waiting for them reads at once; the bound only matters when it leaves something
// unread for good (a ping's ack after the answers), so it stays as short as the old linger.
constexpr std::chrono::seconds kReadLinger{1};

int serve(Plugin& plugin, int argc, char** argv) {
  const char* argv0 = argc > 0 ? argv[0] : "plugin";
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--describe") {
      print_description(plugin);
      return 0;
    }
  }
  if (!is_socket(kPluginFd)) {
    print_not_supervised(plugin, argv0);
    return 2;
  }
  prepare_fd(kPluginFd, /*nonblocking=*/true);
  const bool have_host = is_socket(kHostFd);
  if (have_host) prepare_fd(kHostFd, /*nonblocking=*/true);
  // Debian builds Abseil without NDEBUG, so each absl::Mutex gRPC creates per call would also
  // go through a process-wide lock-order graph behind a global lock (about 3 % of a plugin's
  // time per call). The plugin's own locks are not absl's, so nothing of ours is checked there.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // A log write to a vanished supervisor must fail with EPIPE, not kill the plugin.
  ::signal(SIGPIPE, SIG_IGN);

  // Block the stop signals before gRPC starts threads, so they inherit the mask and only the
  // watcher ever sees SIGTERM/SIGINT.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  SignalMaskGuard mask(stop_signals);

  // After the mask, since the channel starts gRPC threads. Without fd 4 (an older supervisor, a
  // test) host calls answer `unavailable` instead. The client goes when run() returns, so a
  // thread the plugin left behind gets `unavailable` rather than a dangling connection.
  HostConnection host_connection(plugin, have_host ? detail::connect_host(kHostFd) : nullptr);

  detail::Lifecycle lifecycle;
  detail::SignalWatcher signals(stop_signals, lifecycle);
  detail::PluginService service(plugin, lifecycle);

  grpc::ServerBuilder builder;
  // The supervisor enforces the payload cap; the plugin trusts its only peer.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  detail::PluginServer plugin_server(builder, service, lifecycle);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    Logger{}.error("could not start the gRPC server");
    return 1;
  }
  plugin_server.start();
  detail::HangupWatcher hangup(kPluginFd, lifecycle);
  // gRPC owns fd 3 from here on and closes it when the server goes away.
  grpc::AddInsecureChannelFromFd(server.get(), kPluginFd);
  Logger{}.info("serving plugin.v1 on fd 3",
                {{"plugin", plugin.id()}, {"version", plugin.version()}});

  const auto stop = lifecycle.wait_for_stop();
  Logger{}.info("stopping", {{"why", stop.why}, {"grace_ms", stop.grace.count()}});
  if (!lifecycle.drain()) {
    // A handler that ignores its deadline cannot be interrupted, and stopping the server would
    // wait for its thread forever; leave now so the supervisor sees a prompt exit.
    Logger{}.warn("grace ran out with handlers still running; exiting without them",
                  {{"in_flight", lifecycle.in_flight()}});
    std::fflush(stdout);
    std::_Exit(0);
  }
  // Nothing is in flight and new invocations are refused, but a ticket is released when its
  // handler returns, before gRPC has sent the answer. Wait until gRPC has sent every answer (the
  // drained calls', Shutdown's own) and the supervisor has read them: cancelling them, or
  // closing fd 3 while they are unread, would turn a drained call into a failure on its side.
  // Then stop at once: given a deadline, Shutdown() would wait all of it for fd 3 to close.
  // Without answers during the stop there is nothing to wait for (and an idle supervisor does
  // not even read the ping acks gRPC sends it).
  if (!lifecycle.wait_calls_finished(answers_deadline(lifecycle))) {
    Logger{}.warn("answers still unsent after the grace; cancelling them");
  } else if (lifecycle.answered_while_stopping() &&
             !hangup.wait_until_read(std::chrono::steady_clock::now() + kReadLinger)) {
    Logger{}.info("the supervisor left part of what was sent unread; closing fd 3 anyway");
  }
  server->Shutdown(std::chrono::system_clock::now());
  plugin_server.stop();
  server->Wait();
  Logger{}.info("stopped", {{"serving_threads", plugin_server.threads_started()}});
  return 0;
}

}  // namespace

int Plugin::run(int argc, char** argv) {
  // main() gets an exit code, never an exception from the SDK's plumbing.
  try {
    return serve(*this, argc, argv);
  } catch (const std::exception& e) {
    Logger{}.error("plugin stopped by an error", {{"error", e.what()}});
  } catch (...) {
    Logger{}.error("plugin stopped by an unknown error");
  }
  return 1;
}

}  // namespace plugvisor::sdk
