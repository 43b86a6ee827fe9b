#include "api/hooks_service.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <utility>

#include "api/convert.h"

namespace plugvisor::api {

namespace hv1 = plugvisor::hooks::v1;

namespace {

// Incoming Dispatch calls the server is ready for at once; each one taken in posts another, so
// that a burst of concurrent calls never waits for a re-post.
constexpr int kDispatchSlots = 16;

// Takes the payload out of `req` (up to the payload cap) rather than copying it; the call keeps
// only the hook name for its log lines.
dispatch::DispatchRequest to_request(hv1::DispatchRequest& req) {
  dispatch::DispatchRequest request;
  request.hook = req.hook();
  request.context.tenant_id = req.context().tenant_id();
  request.context.work_item_id = req.context().work_item_id();
  request.context.run_id = req.context().run_id();
  for (const auto& [k, v] : req.context().attributes()) request.context.attributes[k] = v;
  request.data_json = std::move(*req.mutable_data_json());
  request.budget = std::chrono::milliseconds(req.budget_ms());
  return request;
}

}  // namespace

// One Dispatch call, its own tag on the queue: waiting for a caller, then running its chain
// (the Invoke calls are other tags), then answering.
class DispatchCall final : public rpc::CqTag {
 public:
  DispatchCall(HooksService& service, rpc::CompletionQueueRunner& queue)
      : service_(service), queue_(queue) {}

  // Waits for the next incoming Dispatch.
  static void post(HooksService& service, rpc::CompletionQueueRunner& queue) {
    auto call = std::make_unique<DispatchCall>(service, queue);
    DispatchCall* c = call.get();
    if (queue.if_open([&] {
          service.async_.RequestDispatch(&c->ctx_, &c->req_, &c->responder_, queue.cq(), queue.cq(),
                                         c);
        })) {
      call.release();  // the queue owns it now
    }
  }

  bool proceed(bool ok) noexcept override {
    if (stage_ == Stage::answering) return false;  // the answer is out (or the call is gone)
    if (!ok) return false;                         // the server is shutting down
    stage_ = Stage::dispatching;
    in_progress_.emplace(queue_);
    post(service_, queue_);
    try {
      // The chain may finish on this thread (a refusal, no handlers) or on the queue thread
      // that completes its last Invoke; either way answer() starts the tag's next operation.
      service_.dispatcher_.dispatch_async(
          to_request(req_), [this](Result<dispatch::DispatchResult> r) { answer(std::move(r)); });
    } catch (const std::exception& e) {
      answer(Error{std::string("dispatch failed: ") + e.what()});
    }
    return true;
  }

 private:
  enum class Stage { waiting, dispatching, answering };

  void answer(Result<dispatch::DispatchResult> result) noexcept {
    stage_ = Stage::answering;
    in_progress_.reset();
    grpc::Status status = grpc::Status::OK;
    try {
      if (!result) {
        status = {grpc::StatusCode::INVALID_ARGUMENT, result.error().message};
      } else {
        resp_.set_dispatch_id(result->dispatch_id);
        resp_.set_data_json(std::move(result->data_json));
        resp_.set_blocked(result->blocked);
        resp_.set_blocked_by(result->blocked_by);
        resp_.set_reason(result->reason);
        for (const auto& r : result->receipts) to_proto(r, resp_.add_receipts());
      }
    } catch (const std::exception& e) {
      spdlog::error("Dispatch {}: {}", req_.hook(), e.what());
      resp_.Clear();
      status = {grpc::StatusCode::INTERNAL, std::string("dispatch failed: ") + e.what()};
    }
    // Once Finish is started another queue thread may complete and delete this call.
    if (!queue_.if_open([&] { responder_.Finish(resp_, status, this); })) {
      // The queue is closing: nobody will ever proceed() this call, so it goes now.
      std::unique_ptr<DispatchCall> gone(this);
    }
  }

  HooksService& service_;
  rpc::CompletionQueueRunner& queue_;
  Stage stage_ = Stage::waiting;
  std::optional<rpc::CompletionQueueRunner::Call> in_progress_;
  grpc::ServerContext ctx_;
  hv1::DispatchRequest req_;
  hv1::DispatchResponse resp_;
  grpc::ServerAsyncResponseWriter<hv1::DispatchResponse> responder_{&ctx_};
};

void HooksService::start(rpc::CompletionQueueRunner& queue) {
  for (int i = 0; i < kDispatchSlots; ++i) DispatchCall::post(*this, queue);
}

}  // namespace plugvisor::api
