#include "rpc/completion_queue.h"

#include <mutex>

namespace plugvisor::rpc {

CompletionQueueRunner::CompletionQueueRunner(std::unique_ptr<grpc::ServerCompletionQueue> cq)
    : cq_(std::move(cq)) {}

CompletionQueueRunner::~CompletionQueueRunner() { stop(); }

void CompletionQueueRunner::run(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { drain(); });
}

void CompletionQueueRunner::drain() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) {
    std::unique_ptr<CqTag> call(static_cast<CqTag*>(tag));
    if (call->proceed(ok)) call.release();  // still pending on the queue
  }
}

void CompletionQueueRunner::stop() {
  {
    std::unique_lock lock(gate_);
    if (closing_) return;
    closing_ = true;
  }
  cq_->Shutdown();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Without threads (run() never called) the queue must still be drained before it goes.
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) std::unique_ptr<CqTag> call(static_cast<CqTag*>(tag));
}

}  // namespace plugvisor::rpc
