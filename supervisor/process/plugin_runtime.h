// One configured plugin over its whole life: the lifecycle state machine (spawn, handshake,
// restart with backoff, crash-loop auto-disable, the shutdown ladder), its guards, its stats,
// and the dispatcher's view of it (HandlerTarget).
//
// Threads: lifecycle methods run on the Asio loop only. invoke()/settle()/snapshot() run on any
// thread and touch shared fields under mu_, never waiting on the loop or the database.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "config/config.h"
#include "dispatch/registry.h"
#include "events/event_log.h"
#include "guard/guards.h"
#include "plugvisor/common/clock.h"
#include "process/latency_window.h"
#include "process/plugin_process.h"
#include "process/state.h"
#include "rpc/completion_queue.h"
#include "store/state_store.h"

namespace plugvisor::process {

struct RuntimeEnv {
  LaunchEnv launch;
  events::EventLog& events;
  store::StateStore& store;
  dispatch::HandlerRegistry& registry;
  const dispatch::HookCatalog& catalog;
  std::function<void(const std::string& plugin_id, bool serving)> set_health;
  std::string supervisor_version;
  // Runs a blocking lifecycle RPC off the loop; the result is posted back to the loop.
  std::function<void(std::function<void()>)> run_blocking;
  // Where async Invoke calls complete (the public server's queue); null: invoke_async blocks.
  rpc::CompletionQueueRunner* invoke_queue = nullptr;
};

struct HookBindingView {
  std::string hook;
  int priority = 0;
  dispatch::FailPolicy fail_policy = dispatch::FailPolicy::open;
  std::chrono::milliseconds timeout{0};
};

struct PluginSnapshot {
  std::string id;
  std::string version;
  State state = State::stopped;
  int pid = 0;
  int64_t uptime_ms = 0;
  uint32_t restarts = 0;
  guard::CircuitState circuit = guard::CircuitState::closed;
  uint64_t calls = 0;
  uint64_t failures = 0;
  uint64_t p50_us = 0;
  uint64_t p99_us = 0;
  bool enabled = true;
  std::string disabled_reason;
  std::string last_error;
  std::string executable;
  std::vector<HookBindingView> hooks;
  std::string sandbox;  // enforced, off, or enforced without ...
};

class PluginRuntime final : public dispatch::HandlerTarget,
                            public std::enable_shared_from_this<PluginRuntime> {
 public:
  // `index` is the plugin's position in the config; it picks the plugin's own host uid.
  PluginRuntime(config::PluginConfig config, uint32_t index, RuntimeEnv& env, bool enabled,
                std::string disabled_reason);

  // --- HandlerTarget: any thread ---
  const std::string& plugin_id() const override { return config_.id; }
  std::string plugin_version() const override;
  dispatch::InvokeOutcome invoke(const dispatch::Invocation& invocation) override;
  void invoke_async(const dispatch::Invocation& invocation, InvokeDone done) override;
  void settle(const dispatch::Invocation& invocation,
              const dispatch::Settlement& settlement) override;

  PluginSnapshot snapshot() const;

  // --- lifecycle: Asio loop only ---
  void start();
  // The shutdown ladder: Shutdown RPC (drain) -> SIGTERM -> SIGKILL. `done` runs once the
  // process is gone (at once if there is none).
  void stop(std::function<void()> done);
  Status enable();
  Status disable();
  Status restart();

 private:
  struct PreparedInvoke;
  // The checks before a call (enabled, ready, breaker) and its request with a fresh token; a
  // refusal is the outcome to report instead.
  std::variant<dispatch::InvokeOutcome, PreparedInvoke> prepare_invoke(
      const dispatch::Invocation& invocation);
  // What a finished Invoke call means for the dispatcher (and, for a timeout, the follow-up).
  dispatch::InvokeOutcome invoke_outcome(const grpc::Status& status,
                                         const plugvisor::plugin::v1::InvokeResponse& resp,
                                         const std::shared_ptr<PluginProcess>& proc,
                                         const std::string& invocation_id,
                                         std::chrono::milliseconds timeout);
  void launch();
  void describe(uint64_t generation);
  void on_described(uint64_t generation, const plugvisor::plugin::v1::DescribeResponse& resp,
                    const grpc::Status& status);
  void on_exit(uint64_t generation, int wait_status);
  // A start failure, a crash or a kill after a timeout: counts once per incarnation.
  bool count_failure(const std::string& reason);
  void schedule_restart();
  void auto_disable();
  void fail_permanently(const std::string& reason);
  void check_after_timeout(std::weak_ptr<PluginProcess> proc, std::string invocation_id);
  void kill_busy(const std::shared_ptr<PluginProcess>& proc, const std::string& invocation_id,
                 const std::string& why);
  void escalate_stop(uint64_t generation, int step);
  void register_handlers(std::vector<dispatch::Handler> handlers);
  std::vector<dispatch::Handler> handlers_from_config();

  // Sets the state, persists it and records the event (any thread).
  void transition(State to, const std::string& kind,
                  nlohmann::json detail = nlohmann::json::object());
  void record_event(const std::string& kind, nlohmann::json detail);
  store::PluginRow row_locked() const;
  State current_state() const;

  const config::PluginConfig config_;
  const uint32_t index_;
  RuntimeEnv& env_;

  // --- shared with dispatch threads, under mu_ ---
  mutable std::mutex mu_;
  State state_ = State::stopped;
  std::shared_ptr<PluginProcess> process_;
  std::string version_;
  bool enabled_;
  std::string disabled_reason_;
  std::string last_error_;
  guard::CircuitBreaker breaker_;
  uint64_t calls_ = 0;
  uint64_t failures_ = 0;
  uint32_t restarts_ = 0;
  LatencyWindow latency_;
  Clock::time_point ready_since_{};
  std::vector<HookBindingView> bindings_;

  // --- Asio loop only ---
  uint64_t generation_ = 0;
  uint64_t failure_counted_for_ = 0;  // generation whose failure is already counted
  bool killed_on_purpose_ = false;    // this incarnation's end was our SIGKILL
  bool stopping_ = false;
  std::vector<std::function<void()>> on_stopped_;
  std::function<void()> after_stop_;
  guard::RestartBackoff backoff_;
  guard::CrashLoopDetector crash_loop_;
  boost::asio::steady_timer restart_timer_;
  boost::asio::steady_timer stop_timer_;
};

}  // namespace plugvisor::process
