// Runs a real plugvisord for integration tests: a config written to a temp dir, the daemon as a
// child process on a unix socket, its log in a file, and gRPC clients for hooks and admin.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugvisor/admin/v1/admin.grpc.pb.h"
#include "plugvisor/hooks/v1/hooks.grpc.pb.h"

namespace plugvisor::testsupport {

namespace av1 = plugvisor::admin::v1;
namespace hv1 = plugvisor::hooks::v1;

// A fresh directory under /tmp, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Absolute paths of things the build produced.
std::string build_path(const std::string& relative);
std::string plugin_binary(const std::string& name);  // <build>/plugins/<name>

class Supervisor {
 public:
  // Writes `config_yaml` (with `listen` and `state_dir` filled in) and starts plugvisord with
  // --database-url `database_url` (empty: embedded). Waits until grpc.health reports SERVING;
  // FAILs the current test, with the daemon's log, if it does not within 60 s.
  static std::unique_ptr<Supervisor> start(const std::string& config_yaml,
                                           const std::string& database_url,
                                           const std::string& state_dir = "");
  ~Supervisor();  // SIGKILL if still running

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_.path(); }
  std::string log() const;

  // SIGTERM and wait for the exit; returns the wait status. -1 if it did not exit in `timeout`.
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void kill_hard();  // SIGKILL and reap

  hv1::DispatchResponse dispatch(const std::string& hook, const std::string& data_json,
                                 grpc::Status* status = nullptr, const std::string& tenant = "t1");
  av1::PluginStatus plugin(const std::string& id);
  std::vector<av1::PluginStatus> plugins();
  av1::ListPluginsResponse status();
  av1::Admin::Stub& admin() { return *admin_; }

  // Waits until `pred` holds for plugin `id`. Returns the status that satisfied it; FAILs the
  // test with the daemon's log after `timeout`.
  av1::PluginStatus wait_for(const std::string& id,
                             const std::function<bool(const av1::PluginStatus&)>& pred,
                             std::chrono::milliseconds timeout = std::chrono::seconds(30));
  av1::PluginStatus wait_for_state(const std::string& id, const std::string& state,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  struct Key {};

 public:
  explicit Supervisor(Key) {}

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<av1::Admin::Stub> admin_;
  std::unique_ptr<hv1::Hooks::Stub> hooks_;
};

// Waits (pidfd, no polling) until process `pid` has exited; true if it did within `timeout`.
// A zombie counts as exited.
bool wait_process_gone(pid_t pid, std::chrono::milliseconds timeout);
bool process_alive(pid_t pid);

class TestCluster;
// A new, empty database on `cluster`, so test cases sharing one cluster never see each other's
// plugins, events or receipts. Returns its connection string.
std::string fresh_database(TestCluster& cluster);
// The cluster shared by every test case of this executable (started on first use).
TestCluster& shared_cluster();

}  // namespace plugvisor::testsupport

namespace plugvisor::testsupport {

// plugin_defaults for tests: quick restarts, short graces, guards out of the way unless a test
// turns them on for one plugin.
// One plugin entry of the config: a fixture binary declaring exactly the hooks it is bound to.
inline std::string fixture(const std::string& id, const std::string& name,
                    const std::vector<std::pair<std::string, std::string>>& hooks,
                    const std::string& extra_args = "") {
  std::string args = "[\"--id\", \"" + id + "\"";
  std::string bindings;
  for (const auto& [hook, options] : hooks) {
    args += ", \"--hook\", \"" + hook + "\"";
    bindings += "      - {hook: " + hook + (options.empty() ? "" : ", " + options) + "}\n";
  }
  return "  - id: " + id + "\n    executable: " + plugin_binary("plugvisor-fixture-" + name) +
         "\n    args: " + args + extra_args + "]\n    hooks:\n" + bindings;
}

inline std::string fast_defaults_yaml() {
  return R"(plugin_defaults:
  start_timeout_ms: 15000
  cancel_grace_ms: 200
  drain_grace_ms: 1000
  term_grace_ms: 1000
  guards:
    backoff_initial_ms: 50
    backoff_max_ms: 400
    breaker_failure_threshold: 1000
    crash_loop_max_failures: 1000
)";
}

}  // namespace plugvisor::testsupport

namespace plugvisor::testsupport {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line and collects what it printed and its exit code.
CommandResult run_command(const std::string& command_line);

}  // namespace plugvisor::testsupport
