// plugvisor.hooks.v1 Dispatch, served asynchronously on the hot path's completion queue
// (rpc/completion_queue.h): a Dispatch is taken in, its chain's Invoke calls go out and its
// answer goes back, each step run by whichever queue thread gets the completion. No thread
// waits on a plugin, and none hands a call to another. The other services stay synchronous.
#pragma once

#include "dispatch/dispatcher.h"
#include "plugvisor/hooks/v1/hooks.grpc.pb.h"
#include "rpc/completion_queue.h"

namespace plugvisor::api {

class HooksService {
 public:
  explicit HooksService(const dispatch::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  // To register with the server builder.
  grpc::Service* service() { return &async_; }

  // Starts taking Dispatch calls on `queue` (built with the server that registered service()).
  void start(rpc::CompletionQueueRunner& queue);

 private:
  friend class DispatchCall;
  const dispatch::Dispatcher& dispatcher_;
  plugvisor::hooks::v1::Hooks::AsyncService async_;
};

}  // namespace plugvisor::api
