#pragma once

#include <functional>

#include "dispatch/catalog.h"
#include "dispatch/chain_run.h"
#include "dispatch/registry.h"
#include "dispatch/types.h"
#include "plugvisor/common/clock.h"
#include "plugvisor/common/result.h"

namespace plugvisor::dispatch {

// target.invoke(), with an exception (a bug in that target) turned into EXECUTION_ERROR.
InvokeOutcome invoke_guarded(HandlerTarget& target, const Invocation& invocation);

// Runs a hook's chain with DESIGN.md's semantics: order, per-handler timeouts, the chain budget,
// allowlisted merge patches, blocking, fail_open/fail_closed, receipts (see ChainRun).
class Dispatcher {
 public:
  Dispatcher(const HookCatalog& catalog, const HandlerRegistry& registry, ReceiptSink& sink,
             const Clock& clock, DispatchLimits limits);

  // Errors (unknown hook, payload not a JSON object, payload too large) are the caller's fault
  // and name what was wrong; plugin failures are never errors here, they are receipts.
  // Blocks for each handler in turn (HandlerTarget::invoke).
  Result<DispatchResult> dispatch(DispatchRequest request) const;

  using Done = std::function<void(Result<DispatchResult>)>;
  // The same, each handler started with HandlerTarget::invoke_async: returns once the first
  // call is on its way, and the chain goes on in each call's completion. `done` runs exactly
  // once: here for a refusal or a chain that needs no call, otherwise on the thread that
  // completes the last invocation. Never throws; neither may `done`.
  void dispatch_async(DispatchRequest request, Done done) const;

 private:
  const HookCatalog& catalog_;
  const HandlerRegistry& registry_;
  ReceiptSink& sink_;
  const Clock& clock_;
  DispatchLimits limits_;
};

}  // namespace plugvisor::dispatch
