// PluginRuntime as the operator and the shutdown see it: its status snapshot, the stop ladder
// (Shutdown RPC -> SIGTERM -> SIGKILL) and enable, disable and restart. The lifecycle state
// machine itself is in plugin_runtime.cc, invocations in plugin_invoke.cc.
#include <signal.h>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "process/plugin_runtime.h"

namespace plugvisor::process {

namespace pv1 = plugvisor::plugin::v1;

void PluginRuntime::stop(std::function<void()> done) {
  restart_timer_.cancel();
  std::shared_ptr<PluginProcess> proc;
  {
    std::lock_guard lock(mu_);
    proc = process_;
  }
  if (!proc || proc->exited()) {
    State now = current_state();
    if (now != State::disabled && now != State::failed) {
      transition(enabled_ ? State::stopped : State::disabled, "stopped");
    }
    done();
    return;
  }
  on_stopped_.push_back(std::move(done));
  if (stopping_) return;
  stopping_ = true;
  transition(State::stopping, "stopping");

  // Step 1: ask the plugin to drain. The answer does not matter; its exit does.
  auto ctx = std::make_shared<grpc::ClientContext>();
  auto req = std::make_shared<pv1::ShutdownRequest>();
  auto resp = std::make_shared<pv1::ShutdownResponse>();
  req->set_grace_ms(static_cast<uint32_t>(config_.drain_grace.count()));
  ctx->set_deadline(std::chrono::system_clock::now() + config_.drain_grace);
  env_.run_blocking([proc, ctx, req, resp] { (void)proc->stub().Shutdown(ctx.get(), *req, resp.get()); });
  escalate_stop(generation_, 0);
}

void PluginRuntime::escalate_stop(uint64_t gen, int step) {
  auto grace = step == 0 ? config_.drain_grace : config_.term_grace;
  stop_timer_.expires_after(grace);
  stop_timer_.async_wait([self = shared_from_this(), gen, step](const boost::system::error_code& ec) {
    if (ec || gen != self->generation_ || !self->stopping_) return;
    std::shared_ptr<PluginProcess> proc;
    {
      std::lock_guard lock(self->mu_);
      proc = self->process_;
    }
    if (!proc || proc->exited()) return;
    int sig = step == 0 ? SIGTERM : SIGKILL;
    self->record_event("signal", {{"signal", step == 0 ? "SIGTERM" : "SIGKILL"},
                                  {"reason", "still running after the grace period"}});
    proc->signal(sig);
    if (step == 0) self->escalate_stop(gen, 1);
  });
}

Status PluginRuntime::enable() {
  if (enabled_) return {};
  {
    std::lock_guard lock(mu_);
    enabled_ = true;
    disabled_reason_.clear();
    breaker_.reset();
  }
  crash_loop_.reset();
  backoff_.reset();
  env_.store.set_enabled(config_.id, true, "");
  record_event("enabled", {{"by", "operator"}});
  if (stopping_) {
    on_stopped_.push_back([self = shared_from_this()] { self->launch(); });
  } else {
    launch();
  }
  return {};
}

Status PluginRuntime::disable() {
  {
    std::lock_guard lock(mu_);
    enabled_ = false;
    disabled_reason_ = "operator";
  }
  env_.store.set_enabled(config_.id, false, "operator");
  record_event("disabled", {{"by", "operator"}});
  stop([] {});
  return {};
}

Status PluginRuntime::restart() {
  if (!enabled_) return Error{"plugin '" + config_.id + "' is disabled; enable it instead"};
  {
    std::lock_guard lock(mu_);
    ++restarts_;
  }
  record_event("restart", {{"by", "operator"}});
  stop([self = shared_from_this()] {
    if (self->enabled_) self->launch();
  });
  return {};
}


PluginSnapshot PluginRuntime::snapshot() const {
  std::lock_guard lock(mu_);
  PluginSnapshot s;
  s.id = config_.id;
  s.version = version_;
  s.state = state_;
  s.pid = process_ ? process_->pid() : 0;
  if (process_ && (state_ == State::ready || state_ == State::circuit_open)) {
    s.uptime_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::instance().now() - ready_since_).count();
  }
  s.restarts = restarts_;
  s.circuit = breaker_.state();
  s.calls = calls_;
  s.failures = failures_;
  s.p50_us = latency_.quantile(0.50);
  s.p99_us = latency_.quantile(0.99);
  s.enabled = enabled_;
  s.disabled_reason = disabled_reason_;
  s.last_error = last_error_;
  s.executable = config_.executable;
  s.hooks = bindings_;
  s.sandbox = env_.launch.sandbox == nullptr
                  ? "off"
                  : sandbox::sandbox_summary(*env_.launch.sandbox, config_);
  return s;
}

}  // namespace plugvisor::process
