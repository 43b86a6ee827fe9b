// One dispatch's walk down its hook's chain, a handler at a time. The dispatcher drives it
// either in a loop (blocking invokes) or from each invocation's completion (async invokes);
// the semantics (order, budget, timeouts, verdicts, fail policies, receipts) live here once.
#pragma once

#include <memory>
#include <optional>

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

class ChainRun {
 public:
  // Checks and parses the request. Errors are the caller's fault (unknown hook, payload too
  // large, too deep, not a JSON object) and carry a DispatchRefusal code.
  static Result<std::unique_ptr<ChainRun>> start(const HookCatalog& catalog,
                                                 const HandlerRegistry& registry,
                                                 const Clock& clock, DispatchLimits limits,
                                                 DispatchRequest request);

  struct Call {
    HandlerTarget* target;
    const Invocation* invocation;  // valid until complete()
  };
  // The next handler to invoke, or nullopt when the chain is over. Handlers that need no call
  // (budget used up, no target) get their receipts on the way.
  std::optional<Call> next();
  // The outcome of the call next() returned: judged, applied, settled, receipted.
  void complete(const InvokeOutcome& outcome);
  // The result, once next() has returned nullopt; its receipts go to `sink` too.
  DispatchResult finish(ReceiptSink& sink);

  struct Key {};  // only start() makes one
  ChainRun(Key, const HookSpec& spec, const Clock& clock, DispatchLimits limits,
           DispatchRequest request);
  ChainRun(const ChainRun&) = delete;
  ChainRun& operator=(const ChainRun&) = delete;
  ~ChainRun();

 private:
  struct Pending;
  FailPolicy policy_of(const Handler& handler) const;
  // A failure under fail_closed ends the dispatch blocked, with the failure as the reason.
  void close_on(const Handler& handler, FailPolicy policy, std::string_view what, ErrorCode code,
                const std::string& message);
  void fail(Receipt& receipt, const Handler& handler, FailPolicy policy, ErrorCode code,
            std::string message);

  const HookSpec& spec_;
  const Clock& clock_;
  DispatchLimits limits_;
  DispatchRequest request_;
  std::shared_ptr<const HandlerRegistry::Chain> chain_;
  size_t index_ = 0;
  nlohmann::json data_;
  std::string current_text_;
  std::chrono::milliseconds budget_{0};
  Clock::time_point started_;
  DispatchResult result_;
  std::unique_ptr<Pending> pending_;
};

}  // namespace plugvisor::dispatch
