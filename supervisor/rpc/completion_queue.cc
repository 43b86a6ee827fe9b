#include "rpc/completion_queue.h"

#include <mutex>

namespace plugvisor::rpc {

CompletionQueueRunner::CompletionQueueRunner(std::unique_ptr<grpc::ServerCompletionQueue> cq)
    : cq_(std::move(cq)) {}

CompletionQueueRunner::~CompletionQueueRunner() { stop(); }

void CompletionQueueRunner::run(int threads, std::chrono::microseconds busy_poll) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this, busy_poll] { drain(busy_poll); });
}

void CompletionQueueRunner::drain(std::chrono::microseconds busy_poll) {
  using Clock = std::chrono::steady_clock;
  void* tag = nullptr;
  bool ok = false;
  Clock::time_point last_completion = Clock::now();
  for (;;) {
    if (busy_poll.count() > 0 && calls_.load(std::memory_order_relaxed) <= 1 &&
        Clock::now() - last_completion < busy_poll) {
      // A deadline in the past makes gRPC poll its fds once without blocking.
      const auto got = cq_->AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
      if (got == grpc::CompletionQueue::SHUTDOWN) return;
      if (got == grpc::CompletionQueue::TIMEOUT) continue;
    } else if (!cq_->Next(&tag, &ok)) {
      return;
    }
    tsan_taken(tag);
    std::unique_ptr<CqTag> call(static_cast<CqTag*>(tag));
    if (call->proceed(ok)) call.release();  // still pending on the queue
    if (busy_poll.count() > 0) last_completion = Clock::now();
  }
}

void CompletionQueueRunner::stop() {
  if (!gate_.close()) return;
  cq_->Shutdown();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Without threads (run() never called) the queue must still be drained before it goes.
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) std::unique_ptr<CqTag> call(static_cast<CqTag*>(tag));
}

}  // namespace plugvisor::rpc
