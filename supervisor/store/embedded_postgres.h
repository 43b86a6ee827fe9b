// The embedded default database: a private PostgreSQL cluster under the state directory,
// reachable only through a unix socket in that directory.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::store {

// Runs a command to completion and returns its exit status (the supervisor routes this through
// its reaper, because nothing else may call wait there). The default spawns and waits itself.
using CommandRunner = std::function<Result<int>(const std::vector<std::string>& argv)>;
CommandRunner direct_command_runner();

struct EmbeddedPostgresOptions {
  std::string data_dir;    // created if missing; the socket lives in data_dir/run
  std::string run_as_user; // used only when we are root; default "postgres", else "nobody"
  std::string bindir;      // empty: newest /usr/lib/postgresql/*/bin
  CommandRunner run = direct_command_runner();
};

class EmbeddedPostgres {
 public:
  // initdb if needed, then starts the cluster (or adopts one already running on this data dir,
  // e.g. after the supervisor was SIGKILLed). Blocks until it accepts connections.
  static Result<std::unique_ptr<EmbeddedPostgres>> start(EmbeddedPostgresOptions options);
  ~EmbeddedPostgres();  // stops the cluster if stop() was not called
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  const std::string& url() const { return url_; }
  Status stop();  // pg_ctl stop -m fast
  // Starts a stopped cluster again (tests use stop()/restart() to simulate an outage).
  Status restart();

 private:
  explicit EmbeddedPostgres(EmbeddedPostgresOptions options) : options_(std::move(options)) {}
  EmbeddedPostgresOptions options_;
  std::string url_;
  bool running_ = false;
};

}  // namespace plugvisor::store
