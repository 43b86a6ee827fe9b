// PluginServer: plugin.v1 on gRPC's async API. Each RPC is one call object on the completion
// queue; its handler runs on the ServingPool thread that took it off the queue, and its answer
// goes out from there (see serving_pool.h for why).
#pragma once

#include <grpcpp/server_builder.h>

#include <memory>
#include <utility>

#include "lifecycle.h"
#include "plugvisor/common/queue_gate.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"
#include "service.h"
#include "serving_pool.h"

namespace plugvisor::sdk::detail {

class PluginServer {
 public:
  // Registers the service and the queue with `builder`; start() once the server is built.
  PluginServer(grpc::ServerBuilder& builder, PluginService& service, Lifecycle& lifecycle);
  ~PluginServer();  // stop()
  PluginServer(const PluginServer&) = delete;
  PluginServer& operator=(const PluginServer&) = delete;

  void start();
  // After the server's Shutdown(), which ends every call: closes the queue and waits until the
  // serving threads have drained it.
  void stop();

  // Threads the pool has started (a blocked handler makes it add one).
  int threads_started() const { return pool_ ? pool_->threads_started() : 0; }

  // What the call objects share.
  pb::Plugin::AsyncService& async_service() { return async_; }
  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }
  PluginService& service() { return service_; }
  Lifecycle& lifecycle() { return lifecycle_; }
  ServingPool& pool() { return *pool_; }

  // Runs `start_op` (which starts one operation on the queue) unless the queue is closing,
  // since gRPC forbids starting one after its Shutdown(). Whether it ran.
  template <class F>
  bool if_open(F&& start_op) {
    return gate_.if_open(std::forward<F>(start_op));
  }

 private:
  pb::Plugin::AsyncService async_;
  PluginService& service_;
  Lifecycle& lifecycle_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<ServingPool> pool_;
  QueueGate gate_;
};

}  // namespace plugvisor::sdk::detail
