#include "process/plugin_runtime.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace plugvisor::process {

namespace pv1 = plugvisor::plugin::v1;
using std::chrono::milliseconds;

namespace {

constexpr uint32_t kProtocolVersion = 1;

const Clock& clock() { return SteadyClock::instance(); }

dispatch::FailPolicy from_proto(pv1::FailPolicy p) {
  return p == pv1::FAIL_CLOSED ? dispatch::FailPolicy::closed : dispatch::FailPolicy::open;
}

}  // namespace

PluginRuntime::PluginRuntime(config::PluginConfig config, uint32_t index, RuntimeEnv& env,
                             bool enabled, std::string disabled_reason)
    : config_(std::move(config)),
      index_(index),
      env_(env),
      enabled_(enabled),
      disabled_reason_(std::move(disabled_reason)),
      breaker_(clock(), config_.guards.breaker_failure_threshold, config_.guards.breaker_open_for),
      backoff_(config_.guards),
      crash_loop_(clock(), config_.guards.crash_loop_max_failures, config_.guards.crash_loop_window),
      restart_timer_(env.launch.io),
      stop_timer_(env.launch.io) {}

State PluginRuntime::current_state() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::string PluginRuntime::plugin_version() const {
  std::lock_guard lock(mu_);
  return version_;
}

store::PluginRow PluginRuntime::row_locked() const {
  return store::PluginRow{config_.id, version_,         std::string(to_string(state_)),
                          enabled_,   disabled_reason_, restarts_};
}

void PluginRuntime::transition(State to, const std::string& kind, nlohmann::json detail) {
  store::PluginRow row;
  int pid = 0;
  {
    std::lock_guard lock(mu_);
    state_ = to;
    if (to == State::ready) ready_since_ = clock().now();
    row = row_locked();
    pid = process_ ? process_->pid() : 0;
  }
  env_.store.save_state(row, pid);
  env_.events.emit(config_.id, kind, std::string(to_string(to)), std::move(detail));
  env_.set_health(config_.id, to == State::ready);
}

void PluginRuntime::record_event(const std::string& kind, nlohmann::json detail) {
  env_.events.emit(config_.id, kind, "", std::move(detail));
}


void PluginRuntime::start() {
  // Hooks the operator listed are bound before the first handshake, so a fail_closed guard
  // that cannot start blocks its hooks instead of silently not being there.
  if (!config_.hooks.empty()) register_handlers(handlers_from_config());
  if (!enabled_) {
    transition(State::disabled, "state", {{"reason", disabled_reason_}});
    env_.set_health(config_.id, false);
    return;
  }
  launch();
}

void PluginRuntime::launch() {
  ++generation_;
  killed_on_purpose_ = false;
  uint64_t gen = generation_;
  if (access(config_.executable.c_str(), X_OK) != 0) {
    fail_permanently("executable " + config_.executable + " is not there or not executable: " +
                     std::strerror(errno));
    return;
  }
  std::optional<sandbox::SandboxPlan> plan;
  const auto* sandbox = env_.launch.sandbox;
  if (sandbox != nullptr && sandbox::sandbox_enforced(*sandbox, config_)) {
    auto planned = sandbox::plan_sandbox(*sandbox, config_, index_, gen, plugin_environment(config_));
    if (!planned) {
      record_event("sandbox_unavailable", {{"reason", planned.error().message}});
      return fail_permanently(planned.error().message);
    }
    plan = std::move(*planned);
  }
  auto self = shared_from_this();
  auto proc = PluginProcess::spawn(env_.launch, config_, std::move(plan), [self, gen](int status) {
    self->on_exit(gen, status);
  });
  if (!proc) {
    {
      std::lock_guard lock(mu_);
      last_error_ = proc.error().message;
    }
    record_event("start_failed", {{"reason", proc.error().message}});
    if (count_failure(proc.error().message)) return auto_disable();
    return schedule_restart();
  }
  {
    std::lock_guard lock(mu_);
    process_ = *proc;
  }
  transition(State::starting, "spawn", {{"pid", (*proc)->pid()}, {"generation", gen}});
  describe(gen);
}

void PluginRuntime::describe(uint64_t gen) {
  struct Call {
    grpc::ClientContext ctx;
    pv1::DescribeRequest req;
    pv1::DescribeResponse resp;
  };
  auto call = std::make_shared<Call>();
  call->ctx.set_deadline(std::chrono::system_clock::now() + config_.start_timeout);
  call->req.add_supported_protocol_versions(kProtocolVersion);
  call->req.set_supervisor_version(env_.supervisor_version);
  call->req.set_settings_json(config_.settings_json);
  std::shared_ptr<PluginProcess> proc;
  {
    std::lock_guard lock(mu_);
    proc = process_;
  }
  auto self = shared_from_this();
  env_.run_blocking([self, gen, call, proc] {
    grpc::Status status = proc->stub().Describe(&call->ctx, call->req, &call->resp);
    // Back to the loop, where all lifecycle decisions are made.
    boost::asio::post(self->env_.launch.io, [self, gen, call, status] {
      self->on_described(gen, call->resp, status);
    });
  });
}

void PluginRuntime::on_described(uint64_t gen, const pv1::DescribeResponse& resp,
                                 const grpc::Status& status) {
  if (gen != generation_ || stopping_) return;
  std::shared_ptr<PluginProcess> proc;
  {
    std::lock_guard lock(mu_);
    proc = process_;
  }
  if (!proc || proc->exited()) return;  // on_exit handles it
  if (!status.ok()) {
    std::string why = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                          ? "no Describe answer within the start timeout (" +
                                std::to_string(config_.start_timeout.count()) + " ms)"
                          : "Describe failed: " + status.error_message();
    {
      std::lock_guard lock(mu_);
      last_error_ = why;
    }
    record_event("start_failed", {{"reason", why}});
    count_failure(why);
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      killed_on_purpose_ = true;
      proc->signal(SIGKILL);  // on_exit schedules the restart or the auto-disable
      return;
    }
    // A broken channel usually means the process is exiting: give it a moment so its own exit
    // status is what gets recorded, then make sure.
    auto timer = std::make_shared<boost::asio::steady_timer>(env_.launch.io, config_.cancel_grace);
    timer->async_wait([self = shared_from_this(), gen, timer](const boost::system::error_code& ec) {
      std::shared_ptr<PluginProcess> p;
      {
        std::lock_guard lock(self->mu_);
        p = self->process_;
      }
      if (ec || gen != self->generation_ || !p || p->exited()) return;
      self->killed_on_purpose_ = true;
      p->signal(SIGKILL);
    });
    return;
  }
  if (resp.protocol_version() != kProtocolVersion) {
    return fail_permanently("plugin chose protocol version " +
                            std::to_string(resp.protocol_version()) + "; plugvisord speaks 1");
  }
  if (resp.plugin_id() != config_.id) {
    return fail_permanently("plugin says its id is '" + resp.plugin_id() +
                            "' but the config calls it '" + config_.id + "'");
  }

  std::vector<dispatch::Handler> handlers;
  std::vector<std::string> ignored;
  for (const auto& reg : resp.hooks()) {
    if (env_.catalog.find(reg.hook()) == nullptr) {
      ignored.push_back(reg.hook() + " (not in the hook catalog)");
      continue;
    }
    dispatch::Handler h{config_.id, reg.hook(), reg.priority(), from_proto(reg.fail_policy()),
                        milliseconds(0), 0, shared_from_this()};
    if (!config_.hooks.empty()) {
      auto it = std::find_if(config_.hooks.begin(), config_.hooks.end(),
                             [&](const auto& c) { return c.hook == reg.hook(); });
      if (it == config_.hooks.end()) {
        ignored.push_back(reg.hook() + " (not listed for this plugin in the config)");
        continue;
      }
      h.priority = it->priority.value_or(h.priority);
      h.fail_policy = it->fail_policy.value_or(h.fail_policy);
      h.timeout = it->timeout.value_or(h.timeout);
    }
    handlers.push_back(std::move(h));
  }
  for (const auto& c : config_.hooks) {
    bool declared = std::any_of(resp.hooks().begin(), resp.hooks().end(),
                                [&](const auto& r) { return r.hook() == c.hook; });
    if (!declared) {
      // Keep the operator's binding: invocations reach the plugin, which answers UNIMPLEMENTED,
      // so a fail_closed binding keeps blocking rather than vanishing.
      spdlog::warn("plugin {}: config binds hook {} but the plugin does not declare it",
                   config_.id, c.hook);
      handlers.push_back(dispatch::Handler{config_.id, c.hook, c.priority.value_or(0),
                                           c.fail_policy.value_or(dispatch::FailPolicy::open),
                                           c.timeout.value_or(milliseconds(0)), 0,
                                           shared_from_this()});
    }
  }
  for (const auto& i : ignored) spdlog::warn("plugin {}: ignoring hook {}", config_.id, i);
  register_handlers(std::move(handlers));
  {
    std::lock_guard lock(mu_);
    version_ = resp.plugin_version();
    last_error_.clear();
  }
  nlohmann::json hooks = nlohmann::json::array();
  for (const auto& reg : resp.hooks()) hooks.push_back(reg.hook());
  transition(State::ready, "ready",
             {{"pid", proc->pid()}, {"version", resp.plugin_version()}, {"hooks", hooks}});
}

void PluginRuntime::on_exit(uint64_t gen, int wait_status) {
  if (gen != generation_) return;  // an incarnation we already replaced
  std::shared_ptr<PluginProcess> proc;
  Clock::duration ran_for{};
  {
    std::lock_guard lock(mu_);
    proc = std::move(process_);
    if (state_ == State::ready || state_ == State::circuit_open) ran_for = clock().now() - ready_since_;
    // From here until the transition below, status must not show "ready" without a process:
    // a watcher that sees ready would dispatch into a plugin that is gone.
    if (!stopping_ && (state_ == State::ready || state_ == State::circuit_open ||
                       state_ == State::starting)) {
      state_ = State::backoff;
    }
  }
  nlohmann::json detail = nlohmann::json::object();
  std::string setup_failure;
  if (proc) {
    proc->mark_exited();
    auto status = proc->drain_status();
    detail = proc->death_detail(wait_status, status);
    for (const auto& line : status) {
      if (line.contains("step")) {
        setup_failure = "sandbox setup failed at step '" + line.value("step", "?") +
                        "': " + line.value("error", "") +
                        (line.contains("detail") ? " (" + line.value("detail", "") + ")" : "");
        detail["reason"] = "sandbox_setup";
        detail["step"] = line.value("step", "");
      }
    }
    proc->cleanup();
  }
  detail["pid"] = proc ? proc->pid() : 0;
  detail["status"] = describe_wait_status(wait_status);
  record_event("exit", detail);
  env_.set_health(config_.id, false);

  if (stopping_) {
    stopping_ = false;
    stop_timer_.cancel();
    transition(enabled_ ? State::stopped : State::disabled, "stopped", detail);
    auto callbacks = std::move(on_stopped_);
    on_stopped_.clear();
    for (auto& cb : callbacks) cb();
    return;
  }
  if (current_state() == State::failed) return;  // permanent: an operator must act
  backoff_.note_healthy(ran_for);
  std::string why = !setup_failure.empty() ? setup_failure
                    : detail.value("reason", "") == "oom"
                        ? "plugin killed by the OOM killer (memory limit " +
                              std::to_string(config_.permissions.resources.memory_mb) + " MiB)"
                    : detail.value("reason", "") == "seccomp"
                        ? "plugin killed by seccomp for syscall " +
                              detail.value("syscall", nlohmann::json("?")).dump()
                        : "plugin process " + describe_wait_status(wait_status);
  {
    // How the process ended says more than a handshake that broke because of it, unless we
    // killed it ourselves (start timeout, a busy handler), whose reason is already recorded.
    std::lock_guard lock(mu_);
    if (!killed_on_purpose_) last_error_ = why;
  }
  bool looping = count_failure(why);
  if (looping) return auto_disable();
  schedule_restart();
}

bool PluginRuntime::count_failure(const std::string& reason) {
  if (failure_counted_for_ == generation_) return crash_loop_.failures_in_window() >=
                                                  config_.guards.crash_loop_max_failures;
  failure_counted_for_ = generation_;
  bool looping = crash_loop_.record_failure();
  spdlog::warn("plugin {}: failure {} of {} allowed within {} ms: {}", config_.id,
               crash_loop_.failures_in_window(), config_.guards.crash_loop_max_failures,
               config_.guards.crash_loop_window.count(), reason);
  return looping;
}

void PluginRuntime::schedule_restart() {
  auto delay = backoff_.next_delay();
  transition(State::backoff, "backoff", {{"delay_ms", delay.count()}, {"attempt", backoff_.attempts()}});
  uint64_t gen = generation_;
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (ec || gen != self->generation_ || !self->enabled_ || self->stopping_) return;
    {
      std::lock_guard lock(self->mu_);
      ++self->restarts_;
    }
    self->record_event("restart", {{"attempt", self->backoff_.attempts()}});
    self->launch();
  });
}

void PluginRuntime::auto_disable() {
  restart_timer_.cancel();
  {
    std::lock_guard lock(mu_);
    enabled_ = false;
    disabled_reason_ = "crash_loop";
  }
  env_.store.set_enabled(config_.id, false, "crash_loop");
  transition(State::disabled, "auto_disabled",
             {{"failures", crash_loop_.failures_in_window()},
              {"window_ms", config_.guards.crash_loop_window.count()},
              {"last_error", snapshot().last_error}});
  std::shared_ptr<PluginProcess> proc;
  {
    std::lock_guard lock(mu_);
    proc = process_;
  }
  if (proc) stop([] {});
}

void PluginRuntime::fail_permanently(const std::string& reason) {
  std::shared_ptr<PluginProcess> proc;
  {
    std::lock_guard lock(mu_);
    last_error_ = reason;
    proc = process_;
  }
  spdlog::error("plugin {}: {}", config_.id, reason);
  killed_on_purpose_ = true;
  transition(State::failed, "failed", {{"reason", reason}});
  if (proc) proc->signal(SIGKILL);
}



}  // namespace plugvisor::process
