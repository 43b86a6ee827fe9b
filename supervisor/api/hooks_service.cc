#include "api/hooks_service.h"

#include <spdlog/spdlog.h>

#include "api/convert.h"

namespace plugvisor::api {

grpc::Status HooksService::Dispatch(grpc::ServerContext*,
                                    const plugvisor::hooks::v1::DispatchRequest* req,
                                    plugvisor::hooks::v1::DispatchResponse* resp) {
  try {
    dispatch::DispatchRequest request;
    request.hook = req->hook();
    request.context.tenant_id = req->context().tenant_id();
    request.context.work_item_id = req->context().work_item_id();
    request.context.run_id = req->context().run_id();
    for (const auto& [k, v] : req->context().attributes()) request.context.attributes[k] = v;
    request.data_json = req->data_json();
    request.budget = std::chrono::milliseconds(req->budget_ms());

    auto result = dispatcher_.dispatch(std::move(request));
    if (!result) return {grpc::StatusCode::INVALID_ARGUMENT, result.error().message};
    resp->set_dispatch_id(result->dispatch_id);
    resp->set_data_json(std::move(result->data_json));
    resp->set_blocked(result->blocked);
    resp->set_blocked_by(result->blocked_by);
    resp->set_reason(result->reason);
    for (const auto& r : result->receipts) to_proto(r, resp->add_receipts());
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    spdlog::error("Dispatch {}: {}", req->hook(), e.what());
    return {grpc::StatusCode::INTERNAL, std::string("dispatch failed: ") + e.what()};
  }
}

}  // namespace plugvisor::api
