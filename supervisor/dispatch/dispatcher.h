#pragma once

#include "dispatch/catalog.h"
#include "dispatch/registry.h"
#include "dispatch/types.h"
#include "plugvisor/common/clock.h"
#include "plugvisor/common/result.h"

namespace plugvisor::dispatch {

// Error::code of a refused dispatch, so the API layer can map it to a gRPC status.
enum class DispatchRefusal : int {
  unknown_hook = 1,       // NOT_FOUND
  payload_too_large = 2,  // RESOURCE_EXHAUSTED / INVALID_ARGUMENT
  invalid_payload = 3,    // INVALID_ARGUMENT: not JSON, or not a JSON object
};

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
  Result<DispatchResult> run(const DispatchRequest& request) const;

  const HookCatalog& catalog_;
  const HandlerRegistry& registry_;
  ReceiptSink& sink_;
  const Clock& clock_;
  DispatchLimits limits_;
};

}  // namespace plugvisor::dispatch
