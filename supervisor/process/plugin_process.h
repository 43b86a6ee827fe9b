// One incarnation of a plugin: the process (via plugvisor-runner), its plugin.v1 channel on fd 3,
// its host.v1 channel on fd 4 and its log pipes. A restart makes a new PluginProcess; calls still
// in flight keep the old one alive through shared_ptr until they finish.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "config/config.h"
#include "host/host_server.h"
#include "plugvisor/common/result.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"
#include "process/log_capture.h"
#include "process/reaper.h"

namespace plugvisor::process {

struct LaunchEnv {
  boost::asio::io_context& io;
  Reaper& reaper;
  host::HostServer& host;
  std::string runner_path;
  size_t max_message_bytes;
};

class PluginProcess {
 public:
  // Must run on the Asio loop's thread: PR_SET_PDEATHSIG fires when the *thread* that spawned
  // the child exits, and that thread lives as long as the supervisor.
  static Result<std::shared_ptr<PluginProcess>> spawn(const LaunchEnv& env,
                                                      const config::PluginConfig& plugin,
                                                      Reaper::ExitCallback on_exit);
  ~PluginProcess();

  pid_t pid() const { return pid_; }
  plugvisor::plugin::v1::Plugin::Stub& stub() { return *stub_; }
  // Signals the plugin's whole process group (the runner made it a session leader).
  void signal(int sig) const;
  void mark_exited() { exited_ = true; }
  bool exited() const { return exited_; }
  uint64_t log_lines_dropped() const;

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
};

}  // namespace plugvisor::process
