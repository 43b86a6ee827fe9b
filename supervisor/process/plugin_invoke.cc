// PluginRuntime as the dispatcher sees it: its handlers in the registry, one invocation over
// plugin.v1, the guards' view of its outcome, and the follow-up on a timed-out call.
#include <grpcpp/support/async_unary_call.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "host/host_server.h"
#include "process/plugin_runtime.h"

namespace plugvisor::process {

namespace pv1 = plugvisor::plugin::v1;
using dispatch::ErrorCode;
using dispatch::InvokeOutcome;

namespace {

InvokeOutcome failure(ErrorCode code, std::string message) {
  InvokeOutcome o;
  o.error = code;
  o.error_message = std::move(message);
  return o;
}

// Refusals decided before the plugin was reached; they say nothing about the plugin's health.
bool refused_before_call(ErrorCode code) {
  return code == ErrorCode::circuit_open || code == ErrorCode::load_error ||
         code == ErrorCode::disabled;
}

}  // namespace

struct PluginRuntime::PreparedInvoke {
  std::shared_ptr<PluginProcess> proc;
  std::string version;  // for the receipt, read with the rest
  host::InvocationRegistry::Ticket ticket;
  pv1::InvokeRequest request;
};

std::variant<InvokeOutcome, PluginRuntime::PreparedInvoke> PluginRuntime::prepare_invoke(
    const dispatch::Invocation& inv) {
  PreparedInvoke p;
  {
    // The only lock of the call: the version goes with the outcome, so the dispatcher need not
    // take it again through plugin_version().
    std::lock_guard lock(mu_);
    auto refuse = [this](InvokeOutcome o) {
      o.plugin_version = version_;
      return o;
    };
    if (!enabled_) {
      auto o = failure(ErrorCode::disabled, "plugin is disabled (" + disabled_reason_ + ")");
      // An operator's disable is a decision, not a failure: skip without the fail policy.
      o.skipped = disabled_reason_ == "operator";
      return refuse(std::move(o));
    }
    if ((state_ != State::ready && state_ != State::circuit_open) || !process_) {
      return refuse(
          failure(ErrorCode::load_error, "plugin is " + std::string(to_string(state_)) +
                                             (last_error_.empty() ? "" : ": " + last_error_)));
    }
    if (!breaker_.allow()) {
      return refuse(failure(ErrorCode::circuit_open,
                            "circuit open after " +
                                std::to_string(config_.guards.breaker_failure_threshold) +
                                " consecutive failures"));
    }
    p.proc = process_;
    p.version = version_;
    ++calls_;
  }
  // Host calls the plugin makes for this invocation must show this ticket's token; it dies
  // with the call, so a token kept by the plugin is worthless afterwards.
  p.ticket = env_.launch.host.invocations().issue(
      host::CallScope{config_.id, p.version, inv.hook, inv.context.invocation_id,
                      inv.context.dispatch_id, inv.context.tenant_id, inv.context.work_item_id,
                      inv.context.run_id, std::chrono::steady_clock::now() + inv.timeout});

  pv1::InvokeRequest& req = p.request;
  req.set_hook(inv.hook);
  req.set_data_json(inv.data_json);
  req.set_timeout_ms(static_cast<uint32_t>(inv.timeout.count()));
  auto* ctx = req.mutable_context();
  ctx->set_invocation_id(inv.context.invocation_id);
  ctx->set_dispatch_id(inv.context.dispatch_id);
  ctx->set_tenant_id(inv.context.tenant_id);
  ctx->set_work_item_id(inv.context.work_item_id);
  ctx->set_run_id(inv.context.run_id);
  for (const auto& [k, v] : inv.context.attributes) (*ctx->mutable_attributes())[k] = v;
  ctx->set_invocation_token(p.ticket.token());
  return p;
}

InvokeOutcome PluginRuntime::invoke(const dispatch::Invocation& inv) {
  auto prepared = prepare_invoke(inv);
  if (auto* refused = std::get_if<InvokeOutcome>(&prepared)) return std::move(*refused);
  auto& p = std::get<PreparedInvoke>(prepared);
  // The deadline is enforced here, host-side, whatever the plugin does; gRPC also carries it to
  // the plugin so a well-behaved handler can stop early.
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() + inv.timeout);
  pv1::InvokeResponse resp;
  grpc::Status status = p.proc->stub().Invoke(&call, p.request, &resp);
  auto outcome = invoke_outcome(status, resp, p.proc, inv.context.invocation_id, inv.timeout);
  outcome.plugin_version = std::move(p.version);
  return outcome;
}

namespace {

// One Invoke in flight on the completion queue; its tag. The ticket (and so the plugin's host
// token) lives until the answer is in.
class AsyncInvoke final : public rpc::CqTag {
 public:
  using Finish = std::function<void(AsyncInvoke&)>;
  AsyncInvoke(std::shared_ptr<PluginProcess> proc, host::InvocationRegistry::Ticket ticket,
              Finish finish)
      : proc(std::move(proc)), ticket(std::move(ticket)), finish_(std::move(finish)) {}

  bool proceed(bool) noexcept override {
    // A client call's Finish always completes; the status says how it went.
    ticket.reset();
    finish_(*this);
    return false;
  }

  std::shared_ptr<PluginProcess> proc;
  host::InvocationRegistry::Ticket ticket;
  grpc::ClientContext ctx;
  pv1::InvokeResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pv1::InvokeResponse>> reader;

 private:
  Finish finish_;
};

}  // namespace

void PluginRuntime::invoke_async(const dispatch::Invocation& inv, InvokeDone done) {
  rpc::CompletionQueueRunner* queue = env_.invoke_queue;
  if (queue == nullptr) {
    done(invoke(inv));
    return;
  }
  auto prepared = prepare_invoke(inv);
  if (auto* refused = std::get_if<InvokeOutcome>(&prepared)) {
    done(std::move(*refused));
    return;
  }
  auto& p = std::get<PreparedInvoke>(prepared);
  auto call = std::make_unique<AsyncInvoke>(
      p.proc, std::move(p.ticket),
      [self = shared_from_this(), done = std::move(done), id = inv.context.invocation_id,
       timeout = inv.timeout, version = p.version](AsyncInvoke& c) {
        InvokeOutcome outcome;
        try {
          outcome = self->invoke_outcome(c.status, c.resp, c.proc, id, timeout);
        } catch (const std::exception& e) {
          outcome = failure(ErrorCode::execution_error, e.what());
        }
        outcome.plugin_version = version;
        done(std::move(outcome));
      });
  AsyncInvoke* c = call.get();
  c->ctx.set_deadline(std::chrono::system_clock::now() + inv.timeout);
  const bool started = queue->if_open([&] {
    c->reader = p.proc->stub().PrepareAsyncInvoke(&c->ctx, p.request, queue->cq());
    c->reader->StartCall();
    c->reader->Finish(&c->resp, &c->status, c);
  });
  if (started) {
    call.release();  // the queue owns it until proceed()
  } else {
    c->status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "plugvisord is shutting down");
    c->proceed(true);
  }
}

InvokeOutcome PluginRuntime::invoke_outcome(const grpc::Status& status,
                                            const pv1::InvokeResponse& resp,
                                            const std::shared_ptr<PluginProcess>& proc,
                                            const std::string& invocation_id,
                                            std::chrono::milliseconds timeout) {
  if (status.ok()) {
    InvokeOutcome o;
    o.decision =
        resp.decision() == pv1::BLOCK ? dispatch::Decision::block : dispatch::Decision::proceed;
    o.patch_json = resp.patch_json();
    o.reason = resp.reason();
    return o;
  }
  if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED && proc->connection_lost()) {
    return failure(ErrorCode::plugin_crashed,
                   "the plugin's connection broke mid-call: " + status.error_message());
  }
  switch (status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      boost::asio::post(env_.launch.io,
                        [self = shared_from_this(), weak = std::weak_ptr(proc),
                         id = invocation_id] { self->check_after_timeout(weak, id); });
      return failure(ErrorCode::timeout,
                     "no answer within " + std::to_string(timeout.count()) + " ms");
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
      return failure(ErrorCode::plugin_crashed,
                     "the plugin's connection broke mid-call: " + status.error_message());
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return failure(ErrorCode::invalid_output, "answer too large: " + status.error_message());
    case grpc::StatusCode::UNIMPLEMENTED:
      return failure(ErrorCode::execution_error,
                     "the plugin has no handler for the hook: " + status.error_message());
    default:
      return failure(ErrorCode::execution_error, status.error_message());
  }
}

void PluginRuntime::settle(const dispatch::Invocation&, const dispatch::Settlement& s) {
  if (refused_before_call(s.error)) return;
  std::string event;
  {
    std::lock_guard lock(mu_);
    latency_.record(s.duration);
    auto before = breaker_.state();
    if (s.counts_as_failure) {
      ++failures_;
      breaker_.record_failure();
    } else if (s.error == ErrorCode::none) {
      breaker_.record_success();
    } else {
      breaker_.record_neutral();
    }
    auto after = breaker_.state();
    if (after == guard::CircuitState::open && before != guard::CircuitState::open &&
        state_ == State::ready) {
      event = "circuit_open";
    } else if (after == guard::CircuitState::closed && state_ == State::circuit_open) {
      event = "circuit_closed";
    }
  }
  if (event == "circuit_open") {
    transition(State::circuit_open, event,
               {{"open_for_ms", config_.guards.breaker_open_for.count()},
                {"last_error", std::string(dispatch::to_string(s.error))}});
  } else if (event == "circuit_closed") {
    transition(State::ready, event);
  }
}

void PluginRuntime::check_after_timeout(std::weak_ptr<PluginProcess> weak, std::string id) {
  // Give a handler that honours its deadline a moment to notice, then ask the plugin whether
  // the invocation is still running. Silence counts as busy: a wedged plugin cannot answer.
  auto timer = std::make_shared<boost::asio::steady_timer>(env_.launch.io, config_.cancel_grace);
  timer->async_wait(
      [self = shared_from_this(), weak, id, timer](const boost::system::error_code& ec) {
        auto proc = weak.lock();
        if (ec || !proc || proc->exited()) return;
        struct Call {
          grpc::ClientContext ctx;
          pv1::InFlightRequest req;
          pv1::InFlightResponse resp;
        };
        auto call = std::make_shared<Call>();
        call->ctx.set_deadline(std::chrono::system_clock::now() + self->config_.cancel_grace);
        self->env_.run_blocking([self, weak, id, call, proc] {
          grpc::Status status = proc->stub().InFlight(&call->ctx, call->req, &call->resp);
          bool busy = !status.ok() || std::find(call->resp.invocation_ids().begin(),
                                                call->resp.invocation_ids().end(),
                                                id) != call->resp.invocation_ids().end();
          if (!busy) return;
          std::string why = status.ok()
                                ? "handler still busy after its deadline and grace"
                                : "no InFlight answer after a timeout: " + status.error_message();
          boost::asio::post(self->env_.launch.io, [self, weak, id, why] {
            if (auto p = weak.lock()) self->kill_busy(p, id, why);
          });
        });
      });
}

void PluginRuntime::kill_busy(const std::shared_ptr<PluginProcess>& proc, const std::string& id,
                              const std::string& why) {
  std::shared_ptr<PluginProcess> current;
  {
    std::lock_guard lock(mu_);
    current = process_;
  }
  if (proc != current || proc->exited() || stopping_) return;
  {
    std::lock_guard lock(mu_);
    last_error_ = "killed: " + why;
  }
  record_event("killed", {{"pid", proc->pid()}, {"invocation_id", id}, {"reason", why}});
  killed_on_purpose_ = true;
  count_failure("killed after a timeout: " + why);
  proc->signal(SIGKILL);
}

std::vector<dispatch::Handler> PluginRuntime::handlers_from_config() {
  std::vector<dispatch::Handler> out;
  for (const auto& h : config_.hooks) {
    out.push_back(dispatch::Handler{config_.id, h.hook, h.priority.value_or(0),
                                    h.fail_policy.value_or(dispatch::FailPolicy::open),
                                    h.timeout.value_or(std::chrono::milliseconds(0)), 0,
                                    shared_from_this()});
  }
  return out;
}

void PluginRuntime::register_handlers(std::vector<dispatch::Handler> handlers) {
  std::vector<HookBindingView> views;
  for (const auto& h : handlers) {
    const auto* spec = env_.catalog.find(h.hook);
    auto timeout = h.timeout.count() > 0 ? h.timeout : spec->default_timeout;
    views.push_back({h.hook, h.priority, h.fail_policy, timeout});
  }
  {
    std::lock_guard lock(mu_);
    bindings_ = std::move(views);
  }
  env_.registry.set_plugin_handlers(config_.id, std::move(handlers));
}

}  // namespace plugvisor::process
