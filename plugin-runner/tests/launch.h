// Starting plugvisor-runner like plugvisord does, for the driver's checks and benchmark.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/common/unique_fd.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"

namespace plugvisor::runner_test {

using Json = nlohmann::json;
namespace pb = ::plugvisor::plugin::v1;

constexpr uid_t kPluginUid = 200003;  // the plugin's host uid/gid in every spec we build

std::string runner_path();
void set_runner_path(const std::string& path);  // default: the one built with this driver
void set_netns(const std::string& path);        // "netns" in every spec (default: none)
std::string plugin_dir();
std::string self_path();  // this driver, which is also the "victim" plugin

// A scratch directory standing in for the plugin's data dir (owned by kPluginUid), removed by
// the destructor; plus a memory+pids cgroup (v1) when asked for.
struct Scratch {
  std::string data_dir;
  std::vector<std::string> cgroup_dirs;
  explicit Scratch(bool cgroups = false);
  ~Scratch();
  std::vector<std::string> cgroup_procs() const;
};

// The spec plugvisord would send for a plugin at `exec_path` (in the new root: the fixtures dir
// is /plugin, this driver's dir /tools), with its data in scratch.data_dir.
Json make_spec(const std::string& exec_path, const std::vector<std::string>& argv,
               const Scratch& scratch);

// One runner process with its plugin.v1 channel.
class Launched {
 public:
  // `spec` null: the unsandboxed runner with `legacy_argv` after "--".
  static Launched start(const std::optional<Json>& spec,
                        const std::vector<std::string>& legacy_argv, bool capture_stdout);
  Launched(Launched&&) = default;
  ~Launched();

  pid_t pid() const { return pid_; }
  pb::Plugin::Stub& stub() { return *stub_; }
  // Describe, waiting for the plugin to come up.
  grpc::Status describe(std::chrono::seconds deadline = std::chrono::seconds(15));
  grpc::Status invoke(const std::string& data_json);
  grpc::Status shutdown();
  // Next line on the status pipe ("" at EOF); blocks.
  std::string status_line();
  // All remaining status lines until EOF.
  std::vector<std::string> status_rest();
  // One line of the plugin's stdout ("" at EOF); blocks.
  std::string stdout_line();
  // The runner's wait status, or nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  Launched() = default;
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd status_, stdout_, host_;
  std::string status_buf_, stdout_buf_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Plugin::Stub> stub_;
};

}  // namespace plugvisor::runner_test
