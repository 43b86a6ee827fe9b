// The embedded default database: a private PostgreSQL cluster under the state directory,
// reachable only through a unix socket in that directory.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::store {

// Runs a command to completion and returns its exit status (the supervisor routes this through
// its reaper, because nothing else may call wait there). The default spawns and waits itself.
// argv[0] is always an absolute path. A runner must give the child stdin=/dev/null, no inherited
// fds beyond 0-2, an empty signal mask and default dispositions: postgres outlives the command
// (pg_ctl start) and inherits them. A child killed by a signal reports 128 + the signal number.
using CommandRunner = std::function<Result<int>(const std::vector<std::string>& argv)>;
// posix_spawnp + waitpid(that pid) (never waitpid(-1)); cwd "/", stdin /dev/null.
CommandRunner direct_command_runner();

struct EmbeddedPostgresOptions {
  std::string data_dir;     // created if missing; the socket lives in data_dir/run
  std::string run_as_user;  // used only when we are root; default "postgres", else "nobody"
  std::string bindir;       // empty: newest /usr/lib/postgresql/*/bin
  CommandRunner run = direct_command_runner();
  // fsync, synchronous_commit and full_page_writes off: fast, and loses data on a crash of the
  // machine. For tests only.
  bool fast_unsafe = false;
};

class EmbeddedPostgres {
 public:
  // initdb if needed, then starts the cluster (or adopts one already running on this data dir,
  // e.g. after the supervisor was SIGKILLed). Blocks until it accepts connections.
  // The server log (and initdb's and pg_ctl's output) goes to data_dir/../postgres.log.
  static Result<std::unique_ptr<EmbeddedPostgres>> start(EmbeddedPostgresOptions options);
  ~EmbeddedPostgres();  // stops the cluster if stop() was not called
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  // key=value form: host=<data_dir>/run port=5432 user=plugvisor dbname=plugvisor
  const std::string& url() const { return url_; }
  Status stop();  // pg_ctl stop -m fast; succeeds if the cluster is already down
  // Starts a stopped cluster again (tests use stop()/restart() to simulate an outage).
  Status restart();

  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  bool adopted() const { return adopted_; }  // the last start found the cluster running

 private:
  explicit EmbeddedPostgres(EmbeddedPostgresOptions options) : options_(std::move(options)) {}
  Status prepare();   // bindir, user, directories, initdb, configuration
  Status bring_up();  // adopt or pg_ctl start, then wait for connections and the database
  // Runs one of the cluster's tools as the cluster's user, output appended to `log`.
  Result<int> run_tool(const std::string& tool, const std::vector<std::string>& args,
                       const std::string& log);
  Result<int> server_status();  // pg_ctl status: 0 running, 3 stopped
  Error with_log_tail(const std::string& message) const;

  EmbeddedPostgresOptions options_;
  std::string url_;
  bool running_ = false;
  bool adopted_ = false;
  std::string bindir_;
  std::string data_dir_;
  std::string run_dir_;
  std::string log_path_;
  std::string user_;  // empty: run the tools as ourselves
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

}  // namespace plugvisor::store
