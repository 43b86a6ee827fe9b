// A real plugvisord for the Dispatch row: a generated config in a temp dir, one no-op plugin
// bound to tool.pre_exec, the daemon as a child process with its log in a file.
#pragma once

#include <grpcpp/channel.h>

#include <chrono>
#include <memory>
#include <string>

#include "child.h"
#include "plugvisor/common/result.h"
#include "report.h"

namespace plugvisor::bench {

struct SupervisorPaths {
  std::string plugvisord;
  std::string noop_plugin;
  std::string work_dir;  // the temp dir: config, log, api socket, state (embedded cluster)
  // The config's `sandbox: {mode: ...}`: "off", "enforce", or "" to leave the key out.
  std::string sandbox_mode;
  // The config's `dispatch: {threads: N}`; 0 leaves the key out (plugvisord's default).
  int dispatch_threads = 0;
};

class SupervisorRun {
 public:
  // Starts plugvisord and waits until the plugin "noop" is ready (deadline `timeout`). With
  // PLUGVISOR_DATABASE_URL set it uses that database, otherwise its embedded cluster.
  static Result<std::unique_ptr<SupervisorRun>> start(const SupervisorPaths& paths,
                                                      std::chrono::seconds timeout);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& log_path() const { return log_path_; }
  std::string database() const { return database_; }
  pid_t pid() const { return process_.pid(); }

  // The receipt writer's counters, once its queue is empty (or `wait` has passed).
  Result<ReceiptTally> receipts(std::chrono::seconds wait) const;

  // SIGTERM and wait; plugvisord's wait status, or an error if it did not exit in time.
  Result<int> stop(std::chrono::seconds timeout);

  SupervisorRun(const SupervisorRun&) = delete;
  SupervisorRun& operator=(const SupervisorRun&) = delete;
  SupervisorRun() = default;

 private:
  ChildProcess process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string log_path_;
  std::string database_;
};

}  // namespace plugvisor::bench
