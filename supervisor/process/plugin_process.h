// One incarnation of a plugin: the process (via plugvisor-runner), its plugin.v1 channel on fd 3,
// its host.v1 channel on fd 4 and its log pipes. A restart makes a new PluginProcess; calls still
// in flight keep the old one alive through shared_ptr until they finish.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"
#include "host/host_server.h"
#include "plugvisor/common/result.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"
#include "process/log_capture.h"
#include "process/reaper.h"
#include "sandbox/plan.h"

namespace plugvisor::process {

struct LaunchEnv {
  boost::asio::io_context& io;
  Reaper& reaper;
  host::HostServer& host;
  std::string runner_path;
  size_t max_message_bytes;
  const sandbox::SandboxContext* sandbox = nullptr;
};

// PATH, LANG, the plugin's id and protocol versions, and the operator's `env`: nothing else of
// the supervisor's environment reaches a plugin.
std::vector<std::string> plugin_environment(const config::PluginConfig& plugin);

class PluginProcess {
 public:
  // Must run on the Asio loop's thread: PR_SET_PDEATHSIG fires when the *thread* that spawned
  // the child exits, and that thread lives as long as the supervisor.
  // Without `plan` the plugin runs unsandboxed (the operator's explicit `sandbox: off`).
  static Result<std::shared_ptr<PluginProcess>> spawn(const LaunchEnv& env,
                                                      const config::PluginConfig& plugin,
                                                      std::optional<sandbox::SandboxPlan> plan,
                                                      Reaper::ExitCallback on_exit);
  ~PluginProcess();

  pid_t pid() const { return pid_; }
  plugvisor::plugin::v1::Plugin::Stub& stub() { return *stub_; }
  // Signals the plugin's whole process group (the runner made it a session leader).
  void signal(int sig) const;
  void mark_exited() { exited_ = true; }
  // The fd-3 connection is gone (the process died or closed it): a failed call then means a
  // crash, whatever status gRPC happened to report for the broken stream.
  bool connection_lost() const;
  bool exited() const { return exited_; }
  uint64_t log_lines_dropped() const;
  bool sandboxed() const { return plan_.has_value(); }

  // After the exit: what the runner reported on its status pipe (setup failures, how the
  // plugin inside ended) and the plugin's death reason for its exit event.
  std::vector<nlohmann::json> drain_status();
  nlohmann::json death_detail(int wait_status, const std::vector<nlohmann::json>& status) const;
  // Kills whatever is left in the plugin's cgroup (descendants that escaped its process group)
  // and removes the cgroup.
  void cleanup() { plan_.reset(); }

 private:
  struct Key {};  // only spawn() constructs, but make_shared needs a public constructor

 public:
  explicit PluginProcess(Key) {}

 private:
  pid_t pid_ = -1;
  std::atomic<bool> exited_{false};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<plugvisor::plugin::v1::Plugin::Stub> stub_;
  std::shared_ptr<LogCapture> stdout_;
  std::shared_ptr<LogCapture> stderr_;
  std::optional<sandbox::SandboxPlan> plan_;
  UniqueFd status_;  // read end of the runner's status pipe
  // A duplicate of our fd-3 end (gRPC owns the original), only to ask the kernel whether the
  // plugin's end has hung up: gRPC's own status for a broken stream varies.
  UniqueFd hangup_watch_;
};

}  // namespace plugvisor::process
