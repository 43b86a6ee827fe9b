#include "app/supervisor.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "api/admin_service.h"
#include "api/health_service.h"
#include "api/hooks_service.h"
#include "app/database.h"
#include "app/host_stack.h"
#include "dispatch/dispatcher.h"
#include "events/event_log.h"
#include "host/host_server.h"
#include "process/plugin_manager.h"
#include "process/reaper.h"
#include "sandbox/landlock_audit.h"
#include "sandbox/netns.h"
#include "sandbox/plan.h"
#include "store/receipt_writer.h"
#include "store/state_store.h"

namespace plugvisor::app {

namespace {

std::string default_runner_path() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "plugvisor-runner";
  // Next to plugvisord in a build tree, or in libexec/plugvisor when installed.
  for (auto candidate :
       {self.parent_path().parent_path() / "plugin-runner" / "plugvisor-runner",
        self.parent_path() / "plugvisor-runner",
        self.parent_path().parent_path() / "libexec" / "plugvisor" / "plugvisor-runner"}) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "plugvisor-runner";
}

std::string health_name(const std::string& plugin_id) { return "plugvisor.plugin." + plugin_id; }

// The Asio loop on its own long-lived thread: spawning, reaping, timers, lifecycle.
class Loop {
 public:
  Loop() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~Loop() { stop(); }
  void stop() {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  boost::asio::io_context& io() { return io_; }

  // Runs f on the loop and waits for it.
  template <typename F>
  void run_sync(F&& f) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

// Asks the runner what this machine offers. Without an answer every mechanism counts as missing,
// so an enforcing config refuses to start plugins rather than run them bare.
sandbox::Mechanisms probe_sandbox(process::Reaper& reaper, const std::string& runner) {
  auto out = reaper.run_capture({runner, "--probe"});
  if (!out) {
    spdlog::error("sandbox probe ({} --probe) failed: {}", runner, out.error().message);
    return {};
  }
  auto m = sandbox::parse_probe(*out);
  if (!m) {
    spdlog::error("sandbox probe: {}", m.error().message);
    return {};
  }
  return std::move(*m);
}

// A plugin's denial as its event; the uid is within the plugins' range (the watch checks).
void record_landlock_denial(events::EventLog& events, const config::SupervisorConfig& config,
                            const sandbox::LandlockDenial& denial, uint64_t suppressed) {
  const std::string& id = config.plugins[denial.uid - config.sandbox.uid_base].id;
  nlohmann::json detail = denial.detail;
  if (suppressed > 0) detail["suppressed_before"] = suppressed;
  spdlog::warn("plugin {}: Landlock denied {}", id, detail.dump());
  events.emit(id, "landlock_denied", "", std::move(detail));
}

}  // namespace

int check_sandbox(config::SupervisorConfig config) {
  if (config.runner_path.empty()) config.runner_path = default_runner_path();
  Loop loop;
  process::Reaper reaper(loop.io());
  reaper.start();
  auto m = probe_sandbox(reaper, config.runner_path);
  std::printf("sandbox mechanisms on this machine (%s):\n%s", config.runner_path.c_str(),
              m.table().c_str());
  auto missing = m.missing(config.sandbox.require);
  std::string required;
  for (const auto& r : config.sandbox.require) required += (required.empty() ? "" : ", ") + r;
  std::printf("landlock denials: %s\n",
              sandbox::LandlockAuditWatch::probe(m.landlock_abi).detail.c_str());
  std::printf("required by %s: %s\n", config.source.c_str(), required.c_str());
  if (missing.empty()) {
    std::printf("ok: every required mechanism is available\n");
    return 0;
  }
  std::string list;
  for (const auto& x : missing) list += (list.empty() ? "" : ", ") + x;
  std::printf("MISSING: %s -- sandboxed plugins will not start\n", list.c_str());
  return 1;
}

int run_supervisor(config::SupervisorConfig config) {
  auto started_at = std::chrono::steady_clock::now();
  // As PID 1 in a container, or under a runner that double-forks, orphans must come to us.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // A write to a pipe whose reader died (a runner that exited before reading its spec) must be
  // an EPIPE to handle, not the end of plugvisord. Children get the default back (reaper.cc).
  ::signal(SIGPIPE, SIG_IGN);

  auto state_dir = prepare_state_dir(config.state_dir);
  if (!state_dir) {
    spdlog::critical("{}", state_dir.error().message);
    return 1;
  }
  if (config.runner_path.empty()) config.runner_path = default_runner_path();

  Loop loop;
  process::Reaper reaper(loop.io());
  reaper.start();
  std::promise<int> stop_signal;
  auto stop_requested = stop_signal.get_future();
  boost::asio::signal_set signals(loop.io(), SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) stop_signal.set_value(sig);
  });

  sandbox::SandboxContext sandbox_ctx{config.sandbox, probe_sandbox(reaper, config.runner_path),
                                      *state_dir};
  spdlog::info("sandbox mechanisms:\n{}", sandbox_ctx.mechanisms.table());
  UniqueFd shared_netns;  // outlives every plugin: declared before the manager
  if (config.sandbox.shared_netns && sandbox::can_share_netns(sandbox_ctx.mechanisms)) {
    if (auto ns = sandbox::make_empty_netns()) {
      shared_netns = std::move(*ns);
      sandbox_ctx.shared_netns_fd = shared_netns.get();
      spdlog::info(
          "sandbox: plugins share one empty network namespace (abstract unix sockets "
          "scoped per plugin by Landlock ABI {})",
          sandbox_ctx.mechanisms.landlock_abi);
    } else {
      spdlog::warn("sandbox: no shared network namespace ({}); each plugin gets its own",
                   ns.error().message);
    }
  }
  sandbox::remove_stale_cgroups(sandbox_ctx.mechanisms, config.sandbox.cgroup_name);
  for (const auto& p : config.plugins) {
    if (!sandbox::sandbox_enforced(sandbox_ctx, p)) {
      spdlog::warn(
          "plugin {} runs WITHOUT a sandbox (sandbox: off): it has the supervisor's "
          "uid, filesystem and network. Do this only for plugins you wrote yourself.",
          p.id);
    }
  }

  auto db = open_database(config, *state_dir, reaper);
  if (!db) {
    spdlog::critical("{}", db.error().message);
    return 1;
  }
  spdlog::info("database: {}", db->description);
  store::StateStore state_store(db->url);
  if (auto s = state_store.open(std::chrono::seconds(30)); !s) {
    spdlog::critical("database {}: {}", db->description, s.error().message);
    return 1;
  }
  store::ReceiptWriter receipts(db->url, config.receipts);
  auto persisted = state_store.load_plugins();
  if (!persisted) {
    spdlog::critical("reading plugin state: {}", persisted.error().message);
    return 1;
  }

  events::EventLog events(state_store);
  // After `events`, so it stops before the log it writes to.
  sandbox::LandlockAuditWatch landlock_audit(
      sandbox_ctx.mechanisms.landlock_abi,
      {config.sandbox.uid_base, static_cast<uint32_t>(config.plugins.size())},
      [&events, &config](const sandbox::LandlockDenial& denial, uint64_t suppressed) {
        record_landlock_denial(events, config, denial, suppressed);
      });
  spdlog::info("landlock denials: {}", landlock_audit.status().detail);
  auto host_stack = HostStack::build(config, db->url);
  if (!host_stack) {
    spdlog::critical("{}", host_stack.error().message);
    return 1;
  }
  host::HostServer host_server;
  dispatch::HandlerRegistry registry;
  dispatch::Dispatcher dispatcher(config.catalog, registry, receipts, SteadyClock::instance(),
                                  config.limits);
  std::atomic<bool> shutting_down{false};

  // The public server is built before the plugins start so health names exist from the start.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const int max_message = static_cast<int>(config.limits.max_payload_bytes + 64 * 1024);

  api::HealthService health;
  // Lifecycle RPCs (Describe, Shutdown, InFlight) are synchronous calls made here, never on the
  // loop; see api/health_service.h for why plugvisord avoids gRPC's callback API.
  boost::asio::thread_pool lifecycle_calls(2);
  process::RuntimeEnv env{process::LaunchEnv{loop.io(), reaper, host_server, config.runner_path,
                                             static_cast<size_t>(max_message), &sandbox_ctx},
                          events,
                          state_store,
                          registry,
                          config.catalog,
                          nullptr,
                          kVersion,
                          [&lifecycle_calls](std::function<void()> call) {
                            boost::asio::post(lifecycle_calls, std::move(call));
                          }};
  process::PluginManager plugins(env, config.plugins, *persisted);
  {
    host::HostServices services = (*host_stack)->services(config.plugins);
    services.events = &events;
    services.receipts = &receipts;
    services.plugin_version = [&plugins](const std::string& id) {
      auto rt = plugins.find(id);
      return rt ? rt->plugin_version() : std::string();
    };
    host_server.configure(std::move(services));
  }
  api::HooksService hooks_service(dispatcher);
  api::AdminService admin_service(api::AdminDeps{
      loop.io(), plugins, state_store, receipts, events, kVersion, db->description, started_at,
      shutting_down, sandbox_ctx, &host_server, (*host_stack)->usage(), &landlock_audit});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  // See sdk/src/serve.cc: keep handler threads instead of one thread per concurrent call.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  builder.RegisterService(hooks_service.service());
  builder.RegisterService(&admin_service);
  builder.RegisterService(&health);
  // Dispatch and the Invokes it makes complete here (api/hooks_service.h). Declared before the
  // server, which must go first.
  rpc::CompletionQueueRunner hot_path(builder.AddCompletionQueue());
  auto server = builder.BuildAndStart();
  if (!server || (port == 0 && config.listen.rfind("unix:", 0) != 0)) {
    spdlog::critical("cannot listen on {} (in use, or not an address)", config.listen);
    return 1;
  }
  env.invoke_queue = &hot_path;
  hooks_service.start(hot_path);
  hot_path.run(config.dispatch_threads, config.dispatch_busy_poll);
  env.set_health = [&health](const std::string& id, bool serving) {
    health.set_serving(health_name(id), serving);
  };
  for (const auto& p : config.plugins) health.set_serving(health_name(p.id), false);
  health.set_serving("", true);

  events.emit("", "supervisor_started", "",
              {{"version", kVersion},
               {"pid", getpid()},
               {"listen", config.listen},
               {"database", db->description},
               {"plugins", config.plugins.size()}});
  loop.run_sync([&] { plugins.start_all(); });
  spdlog::info("plugvisord {} ready on {} with {} plugin(s)", kVersion, config.listen,
               config.plugins.size());

  int sig = stop_requested.get();
  spdlog::info("{} received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  shutting_down = true;
  health.shut_down();
  // In-flight dispatches finish (or are cancelled at the deadline) before plugins go away.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));

  std::promise<void> stopped;
  boost::asio::post(loop.io(), [&] { plugins.stop_all([&] { stopped.set_value(); }); });
  stopped.get_future().wait();
  hot_path.stop();         // every Invoke has ended with its plugin
  lifecycle_calls.join();  // every such call has a deadline
  events.emit("", "supervisor_stopped", "", {{"signal", sig}});
  sandbox::remove_instance_cgroup(sandbox_ctx.mechanisms, config.sandbox.cgroup_name);

  bool receipts_flushed = receipts.flush(std::chrono::seconds(10));
  bool events_flushed = state_store.flush(std::chrono::seconds(10));
  if (!receipts_flushed || !events_flushed) {
    spdlog::error("shutdown: {} receipts and {} state changes could not be written",
                  receipts.stats().queued, state_store.pending());
  }
  host_server.shutdown();
  signals.cancel();
  if (db->embedded) {
    // pg_ctl goes through the reaper, so the loop must still be running here.
    if (auto s = db->embedded->stop(); !s)
      spdlog::error("stopping the embedded database: {}", s.error().message);
  }
  loop.stop();
  spdlog::info("plugvisord stopped");
  return 0;
}

}  // namespace plugvisor::app
