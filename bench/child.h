// Child processes of the bench (the echo and relay servers, plugvisor-runner, plugvisord) and the
// temp dir they work in, each owned by an RAII object that never leaves a process or fd behind.
#pragma once

#include <grpcpp/channel.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/common/result.h"
#include "plugvisor/common/unique_fd.h"

namespace plugvisor::bench {

// A fresh 0755 directory under /tmp (the embedded cluster's non-root user must traverse it),
// removed with everything in it on destruction.
class TempDir {
 public:
  static Result<TempDir> create();
  TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// One spawned process. The destructor SIGKILLs it and reaps it, so an early return anywhere
// cannot leak it. With `whole_group`, signals go to its process group (plugvisor-runner makes one
// with setsid, and the plugin may have children of its own); until that group exists, and
// without the flag, they go to the pid alone.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(pid_t pid, bool whole_group) : pid_(pid), whole_group_(whole_group) {}
  ChildProcess(ChildProcess&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)),
        whole_group_(o.whole_group_),
        status_(std::exchange(o.status_, std::nullopt)) {}
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { kill_and_reap(); }

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // The wait status if the process has exited (reaping it), without blocking.
  std::optional<int> poll();
  // Waits up to `timeout` for the process to exit; its wait status, or nullopt on timeout.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  void kill_and_reap();

 private:
  pid_t pid_ = -1;
  bool whole_group_ = false;
  std::optional<int> status_;
};

// What to spawn and where its stdout/stderr go (appended to `log_path`).
struct SpawnRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string log_path;
};

// A process started the way plugvisord starts a plugin: a socketpair for plugin.v1 on fd 3 and
// one for host.v1 on fd 4, both O_NONBLOCK, stdin /dev/null.
struct PluginChild {
  ChildProcess process;
  std::shared_ptr<grpc::Channel> channel;  // plugin.v1, we are the client
  UniqueFd host_end;                       // kept open so the plugin never sees fd 4 hang up
};

Result<PluginChild> spawn_plugin_child(const SpawnRequest& request);

// The two-hop floor: `back` serves on its fd 3; `front` serves us on its fd 3 and is a client of
// `back` on its fd 4. The socketpair between them is held by them alone, so each sees the other
// hang up. Both get stdin /dev/null and nothing else, like the echo server's spawn.
struct RelayChain {
  ChildProcess back;
  ChildProcess front;
  std::shared_ptr<grpc::Channel> channel;  // to front's fd 3, we are the client
};

Result<RelayChain> spawn_relay_chain(const SpawnRequest& front, const SpawnRequest& back);

// A plain process (plugvisord): stdin /dev/null, stdout and stderr to the log file.
Result<ChildProcess> spawn_process(const SpawnRequest& request);

std::vector<std::string> current_environment();
// Sets NAME=value in `env`, replacing NAME's entry if there is one.
void set_environment_variable(std::vector<std::string>& env, const std::string& name,
                              const std::string& value);
std::string describe_wait_status(int status);
std::string tail_of_file(const std::string& path, size_t max_bytes);

}  // namespace plugvisor::bench
