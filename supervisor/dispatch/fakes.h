// Test doubles for the dispatcher's seams: a scripted HandlerTarget that spends fake time, and a
// ReceiptSink that records. Header-only and never linked into plugvisord; here (not under tests/)
// so that every suite that drives a Dispatcher (unit, api, bench) shares one implementation.
#pragma once

#include <chrono>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dispatch/catalog.h"
#include "dispatch/dispatcher.h"
#include "dispatch/registry.h"
#include "dispatch/types.h"
#include "plugvisor/common/clock.h"

namespace plugvisor::dispatch::fakes {

inline InvokeOutcome proceed() { return {}; }

inline InvokeOutcome patch(const nlohmann::json& p) {
  InvokeOutcome o;
  o.patch_json = p.dump();
  return o;
}

inline InvokeOutcome raw_patch(std::string text) {
  InvokeOutcome o;
  o.patch_json = std::move(text);
  return o;
}

inline InvokeOutcome block(std::string reason, std::string patch_json = "") {
  InvokeOutcome o;
  o.decision = Decision::block;
  o.reason = std::move(reason);
  o.patch_json = std::move(patch_json);
  return o;
}

inline InvokeOutcome fail(ErrorCode code, std::string message = "") {
  InvokeOutcome o;
  o.error = code;
  o.error_message = std::move(message);
  return o;
}

inline InvokeOutcome skip(ErrorCode code = ErrorCode::disabled) {
  InvokeOutcome o;
  o.skipped = true;
  o.error = code;
  return o;
}

// With PLUGVISOR_DISPATCH_ASYNC set (CTest runs every dispatch suite both ways), the harness
// drives Dispatcher::dispatch_async and every fake answers on a thread of its own, as a plugin's
// Invoke completes on a queue thread in plugvisord.
inline bool async_dispatch_mode() { return std::getenv("PLUGVISOR_DISPATCH_ASYNC") != nullptr; }

// Answers from a script, one step per invoke(); after the script, `fallback` answers. Each step
// advances the fake clock by its duration to stand in for the plugin's running time.
class FakeTarget final : public HandlerTarget {
 public:
  using Responder = std::function<InvokeOutcome(const Invocation&)>;

  FakeTarget(std::string plugin_id, FakeClock& clock, std::string version = "1.0.0")
      : id_(std::move(plugin_id)), version_(std::move(version)), clock_(clock) {}

  FakeTarget& then(InvokeOutcome outcome, std::chrono::milliseconds takes = {}) {
    script_.push_back({[o = std::move(outcome)](const Invocation&) { return o; }, takes});
    return *this;
  }
  FakeTarget& then(Responder responder, std::chrono::milliseconds takes = {}) {
    script_.push_back({std::move(responder), takes});
    return *this;
  }
  FakeTarget& otherwise(InvokeOutcome outcome, std::chrono::milliseconds takes = {}) {
    fallback_ = {[o = std::move(outcome)](const Invocation&) { return o; }, takes};
    return *this;
  }

  const std::string& plugin_id() const override { return id_; }
  std::string plugin_version() const override { return version_; }

  InvokeOutcome invoke(const Invocation& invocation) override {
    invocations.push_back(invocation);
    Step step = fallback_;
    if (!script_.empty()) {
      step = std::move(script_.front());
      script_.pop_front();
    }
    clock_.advance(step.takes);
    return step.respond ? step.respond(invocation) : InvokeOutcome{};
  }

  void invoke_async(const Invocation& invocation, InvokeDone done) override {
    if (!async_dispatch_mode()) return done(invoke(invocation));
    // The chain goes on from the answering thread; the harness waits for the end, so only one
    // thread touches the fakes at a time.
    // `done` leaves the task when it runs: the future keeps the task, and a `done` (holding
    // the chain, which holds this fake) kept there would be a cycle.
    answering_.push_back(
        std::async(std::launch::async, [this, inv = invocation, done = std::move(done)]() mutable {
          auto answer = std::move(done);
          answer(invoke_guarded(*this, inv));
        }));
  }

  // Waits until every answering thread is done with its task (and with the chain it held).
  void wait_answered() {
    for (auto& f : answering_) f.wait();
  }

  void settle(const Invocation& invocation, const Settlement& settlement) override {
    settled_ids.push_back(invocation.context.invocation_id);
    settlements.push_back(settlement);
  }

  std::vector<Invocation> invocations;
  std::vector<std::string> settled_ids;
  std::vector<Settlement> settlements;

 private:
  struct Step {
    Responder respond;
    std::chrono::milliseconds takes{0};
  };

  std::string id_;
  std::string version_;
  FakeClock& clock_;
  std::deque<Step> script_;
  Step fallback_;
  std::vector<std::future<void>> answering_;  // joined when the fake goes
};

class RecordingSink final : public ReceiptSink {
 public:
  void submit(std::vector<Receipt> receipts) override { batches.push_back(std::move(receipts)); }
  std::vector<std::vector<Receipt>> batches;
};

// Everything a Dispatcher needs, wired to fakes: add targets, then dispatch.
struct Harness {
  FakeClock clock;
  HookCatalog catalog = HookCatalog::defaults();
  HandlerRegistry registry;
  RecordingSink sink;
  DispatchLimits limits;

  std::shared_ptr<FakeTarget> target(const std::string& plugin_id) {
    auto t = std::make_shared<FakeTarget>(plugin_id, clock);
    made_.push_back(t);
    return t;
  }

  // Adds one handler for `t` (keeping its earlier ones) and returns the target.
  std::shared_ptr<FakeTarget> bind(std::shared_ptr<FakeTarget> t, const std::string& hook,
                                   int priority = 0, FailPolicy policy = FailPolicy::open,
                                   std::chrono::milliseconds timeout = {}) {
    Handler h;
    h.plugin_id = t->plugin_id();
    h.hook = hook;
    h.priority = priority;
    h.fail_policy = policy;
    h.timeout = timeout;
    h.target = t;
    auto& mine = handlers_[t->plugin_id()];
    mine.push_back(std::move(h));
    registry.set_plugin_handlers(t->plugin_id(), mine);
    return t;
  }

  Result<DispatchResult> dispatch(const std::string& hook, const nlohmann::json& data,
                                  std::chrono::milliseconds budget = {}) {
    return dispatch_text(hook, data.dump(), budget);
  }
  Result<DispatchResult> dispatch_text(const std::string& hook, std::string data,
                                       std::chrono::milliseconds budget = {}) {
    DispatchRequest req;
    req.hook = hook;
    req.context.tenant_id = "tenant-1";
    req.context.work_item_id = "wi-1";
    req.context.run_id = "run-1";
    req.context.attributes["k"] = "v";
    req.data_json = std::move(data);
    req.budget = budget;
    Dispatcher dispatcher(catalog, registry, sink, clock, limits);
    if (!async_dispatch_mode()) return dispatcher.dispatch(std::move(req));
    std::promise<Result<DispatchResult>> result;
    auto answer = result.get_future();
    dispatcher.dispatch_async(
        std::move(req), [&result](Result<DispatchResult> r) { result.set_value(std::move(r)); });
    auto r = answer.get();
    // The last answering thread may still hold the chain; a fake whose last owner went on that
    // thread would join that thread from itself.
    for (auto& t : made_) t->wait_answered();
    return r;
  }

 private:
  std::map<std::string, std::vector<Handler>> handlers_;
  std::vector<std::shared_ptr<FakeTarget>> made_;
};

}  // namespace plugvisor::dispatch::fakes
