#include "supervisor_run.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "load.h"
#include "plugvisor/admin/v1/admin.grpc.pb.h"

namespace plugvisor::bench {

namespace {

namespace av1 = plugvisor::admin::v1;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Quoted for YAML: paths under /tmp never contain a double quote or a backslash.
std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string config_yaml(const SupervisorPaths& paths, const std::string& address) {
  std::string sandbox;
  if (!paths.sandbox_mode.empty()) sandbox = "sandbox:\n  mode: " + paths.sandbox_mode + "\n";
  std::string dispatch;
  if (paths.dispatch_threads > 0) {
    dispatch = "dispatch:\n  threads: " + std::to_string(paths.dispatch_threads) + "\n";
  }
  return "listen: " + quoted(address) + "\n" +                       //
         "state_dir: " + quoted(paths.work_dir + "/state") + "\n" +  //
         sandbox + dispatch +                                        //
         "plugins:\n"
         "  - id: noop\n"
         "    executable: " +
         quoted(paths.noop_plugin) +
         "\n"
         "    args: [\"--id\", \"noop\", \"--hook\", \"tool.pre_exec\"]\n"
         "    hooks:\n"
         "      - {hook: tool.pre_exec}\n";
}

Error with_log(const std::string& what, const std::string& log_path) {
  return Error{what + "\n--- plugvisord log (tail) ---\n" + tail_of_file(log_path, 4000)};
}

}  // namespace

Result<std::unique_ptr<SupervisorRun>> SupervisorRun::start(const SupervisorPaths& paths,
                                                            std::chrono::seconds timeout) {
  auto run = std::make_unique<SupervisorRun>();
  const std::string address = "unix:" + paths.work_dir + "/api.sock";
  const std::string config_path = paths.work_dir + "/plugvisor.yaml";
  {
    std::ofstream out(config_path);
    out << config_yaml(paths, address);
    if (!out.flush()) return Error{"cannot write " + config_path};
  }
  run->log_path_ = paths.work_dir + "/plugvisord.log";
  SpawnRequest spawn{
      {paths.plugvisord, "--config", config_path}, current_environment(), run->log_path_};
  const char* url = std::getenv("PLUGVISOR_DATABASE_URL");
  if (url != nullptr && *url != '\0') {
    spawn.argv.insert(spawn.argv.end(), {"--database-url", url});
    run->database_ = "PLUGVISOR_DATABASE_URL";
  } else {
    run->database_ = "embedded cluster in " + paths.work_dir + "/state";
  }
  auto process = spawn_process(spawn);
  if (!process) return process.error();
  run->process_ = std::move(*process);

  const auto deadline = steady_clock::now() + timeout;
  // Short slices, so that a plugvisord that exits at start is reported at once, not in 90 s.
  auto gone = [&]() -> std::optional<Error> {
    if (auto status = run->process_.poll()) {
      return with_log("plugvisord " + describe_wait_status(*status) + " during start-up",
                      run->log_path_);
    }
    if (g_interrupted) return Error{"interrupted"};
    if (steady_clock::now() >= deadline) {
      return with_log("plugvisord was not ready within " + std::to_string(timeout.count()) + " s",
                      run->log_path_);
    }
    return std::nullopt;
  };

  run->channel_ = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  while (!run->channel_->WaitForConnected(std::chrono::system_clock::now() + milliseconds(200))) {
    if (auto e = gone()) return *e;
  }
  auto admin = av1::Admin::NewStub(run->channel_);
  std::string last_state = "(not listed)";
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    av1::ListPluginsResponse resp;
    if (auto s = admin->ListPlugins(&ctx, av1::ListPluginsRequest{}, &resp); s.ok()) {
      for (const auto& p : resp.plugins()) {
        if (p.id() != "noop") continue;
        if (p.state() == "ready") return run;
        last_state = p.state() + (p.last_error().empty() ? "" : " (" + p.last_error() + ")");
        if (p.state() == "failed" || p.state() == "disabled") {
          return with_log("plugin noop is " + last_state, run->log_path_);
        }
      }
    } else {
      last_state = "ListPlugins: " + s.error_message();
    }
    if (auto e = gone()) return Error{e->message + "\nlast seen: " + last_state};
    std::this_thread::sleep_for(milliseconds(50));
  }
}

Result<ReceiptTally> SupervisorRun::receipts(std::chrono::seconds wait) const {
  auto admin = av1::Admin::NewStub(channel_);
  const auto deadline = steady_clock::now() + wait;
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    av1::ListPluginsResponse resp;
    if (auto s = admin->ListPlugins(&ctx, av1::ListPluginsRequest{}, &resp); !s.ok()) {
      return Error{"ListPlugins for the receipt counters: " + s.error_message()};
    }
    const auto& sup = resp.supervisor();
    const ReceiptTally tally{sup.receipts_written(), sup.receipts_dropped(), sup.receipts_queued()};
    // The writer flushes every 200 ms by default; there is no event to wait on from outside.
    if (tally.queued == 0 || steady_clock::now() >= deadline) return tally;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

Result<int> SupervisorRun::stop(std::chrono::seconds timeout) {
  // Our channel first: an idle client connection must not be what keeps the server waiting.
  channel_.reset();
  process_.signal(SIGTERM);
  if (auto status = process_.wait_for(timeout)) return *status;
  process_.kill_and_reap();
  return with_log(
      "plugvisord did not exit within " + std::to_string(timeout.count()) + " s of SIGTERM; killed",
      log_path_);
}

}  // namespace plugvisor::bench
