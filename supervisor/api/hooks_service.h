#pragma once

#include "dispatch/dispatcher.h"
#include "plugvisor/hooks/v1/hooks.grpc.pb.h"

namespace plugvisor::api {

class HooksService final : public plugvisor::hooks::v1::Hooks::Service {
 public:
  explicit HooksService(const dispatch::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  grpc::Status Dispatch(grpc::ServerContext* ctx, const plugvisor::hooks::v1::DispatchRequest* req,
                        plugvisor::hooks::v1::DispatchResponse* resp) override;

 private:
  const dispatch::Dispatcher& dispatcher_;
};

}  // namespace plugvisor::api
