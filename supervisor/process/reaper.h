// The one place in plugvisord that calls wait(): a SIGCHLD handler on the Asio loop reaps every
// exited child (plugins, pg_ctl, orphans adopted as a child subreaper) and routes each exit to
// whoever spawned that pid.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::process {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is the path
  std::vector<std::string> env;   // NAME=value
  // child fd -> parent fd to dup2 there. Unlisted fds 0-2 become /dev/null (0) or stay (1, 2).
  std::map<int, int> fds;
};

class Reaper {
 public:
  using ExitCallback = std::function<void(int wait_status)>;

  explicit Reaper(boost::asio::io_context& io);
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Installs the SIGCHLD handler. Call before the first spawn.
  void start();

  // posix_spawn (nothing runs between fork and exec but the spawn's own async-signal-safe
  // actions) and registers on_exit before SIGCHLD can be routed. on_exit runs on the Asio loop.
  Result<pid_t> spawn(const SpawnSpec& spec, ExitCallback on_exit);

  // Spawns and waits for the exit status. Must not be called on the Asio loop's thread.
  Result<int> run(const std::vector<std::string>& argv);
  // Like run(), and returns what the command printed on stdout (stderr stays ours).
  Result<std::string> run_capture(const std::vector<std::string>& argv);

 private:
  void arm();
  void reap();

  boost::asio::io_context& io_;
  boost::asio::signal_set sigchld_;
  std::mutex mu_;
  std::map<pid_t, ExitCallback> waiting_;
};

// "exited with code 3", "killed by SIGKILL", ...
std::string describe_wait_status(int wait_status);

}  // namespace plugvisor::process
