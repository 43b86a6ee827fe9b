#include "dispatch/dispatcher.h"

#include <memory>
#include <string>
#include <utility>

namespace plugvisor::dispatch {
namespace {

// invoke() is specified not to throw; a target that does anyway is a bug in that plugin's
// adapter and is charged to it rather than taking the dispatch down.
InvokeOutcome thrown(const char* what) {
  InvokeOutcome outcome;
  outcome.error = ErrorCode::execution_error;
  outcome.error_message =
      std::string("handler target threw") + (what ? ": " : "") + (what ? what : "");
  return outcome;
}

Error failed_dispatch(const std::string& hook, const char* what) {
  // Only allocation failure is expected here; the caller gets an error, not an exception.
  return Error{"dispatch of " + hook + " failed: " + what};
}

// The async chain: each completion continues it. A target that completes at once (a refusal,
// a fake) continues it on this stack, at most one frame per handler.
struct AsyncChain : std::enable_shared_from_this<AsyncChain> {
  AsyncChain(std::unique_ptr<ChainRun> r, ReceiptSink& s, Dispatcher::Done d, std::string h)
      : run(std::move(r)), sink(s), done(std::move(d)), hook(std::move(h)) {}

  void step() {
    std::optional<ChainRun::Call> call;
    try {
      call = run->next();
      if (!call) {
        done(run->finish(sink));
        return;
      }
    } catch (const std::exception& e) {
      done(failed_dispatch(hook, e.what()));
      return;
    }
    try {
      call->target->invoke_async(
          *call->invocation,
          [self = shared_from_this()](InvokeOutcome outcome) { self->completed(outcome); });
    } catch (const std::exception& e) {
      completed(thrown(e.what()));
    } catch (...) {
      completed(thrown(nullptr));
    }
  }

  void completed(const InvokeOutcome& outcome) {
    try {
      run->complete(outcome);
    } catch (const std::exception& e) {
      done(failed_dispatch(hook, e.what()));
      return;
    }
    step();
  }

  std::unique_ptr<ChainRun> run;
  ReceiptSink& sink;
  Dispatcher::Done done;
  std::string hook;
};

}  // namespace

InvokeOutcome invoke_guarded(HandlerTarget& target, const Invocation& inv) {
  try {
    return target.invoke(inv);
  } catch (const std::exception& e) {
    return thrown(e.what());
  } catch (...) {
    return thrown(nullptr);
  }
}

Dispatcher::Dispatcher(const HookCatalog& catalog, const HandlerRegistry& registry,
                       ReceiptSink& sink, const Clock& clock, DispatchLimits limits)
    : catalog_(catalog), registry_(registry), sink_(sink), clock_(clock), limits_(limits) {}

Result<DispatchResult> Dispatcher::dispatch(DispatchRequest request) const {
  const std::string hook = request.hook;
  try {
    auto run = ChainRun::start(catalog_, registry_, clock_, limits_, std::move(request));
    if (!run) return run.error();
    while (auto call = (*run)->next())
      (*run)->complete(invoke_guarded(*call->target, *call->invocation));
    return (*run)->finish(sink_);
  } catch (const std::exception& e) {
    return failed_dispatch(hook, e.what());
  }
}

void Dispatcher::dispatch_async(DispatchRequest request, Done done) const {
  std::string hook = request.hook;
  std::shared_ptr<AsyncChain> chain;
  try {
    auto run = ChainRun::start(catalog_, registry_, clock_, limits_, std::move(request));
    if (!run) {
      done(run.error());
      return;
    }
    chain = std::make_shared<AsyncChain>(std::move(*run), sink_, std::move(done), std::move(hook));
  } catch (const std::exception& e) {
    done(failed_dispatch(hook, e.what()));
    return;
  }
  chain->step();
}

}  // namespace plugvisor::dispatch
