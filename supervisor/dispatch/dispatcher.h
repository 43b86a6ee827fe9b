#pragma once

#include "plugvisor/common/clock.h"
#include "plugvisor/common/result.h"
#include "dispatch/catalog.h"
#include "dispatch/registry.h"
#include "dispatch/types.h"

namespace plugvisor::dispatch {

// Runs a hook's chain with DESIGN.md's semantics: order, per-handler timeouts, the chain budget,
// allowlisted merge patches, blocking, fail_open/fail_closed, receipts.
class Dispatcher {
 public:
  Dispatcher(const HookCatalog& catalog, const HandlerRegistry& registry, ReceiptSink& sink,
             const Clock& clock, DispatchLimits limits);

  // Errors (unknown hook, payload not a JSON object, payload too large) are the caller's fault
  // and name what was wrong; plugin failures are never errors here, they are receipts.
  Result<DispatchResult> dispatch(DispatchRequest request) const;

 private:
  const HookCatalog& catalog_;
  const HandlerRegistry& registry_;
  ReceiptSink& sink_;
  const Clock& clock_;
  DispatchLimits limits_;
};

}  // namespace plugvisor::dispatch
