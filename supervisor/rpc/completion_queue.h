// One completion queue for the hot path: the public server's Dispatch calls and the Invoke
// calls they make to plugins complete on the same queue, so one thread can take a Dispatch in,
// send it to the plugin and answer it without handing it to another thread (see
// docs/decisions.md, "async Dispatch").
#pragma once

#include <grpcpp/completion_queue.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "plugvisor/common/queue_gate.h"

namespace plugvisor::rpc {

// What is put on the queue as a tag: a call that knows how to go on when its pending operation
// completes. The queue owns it while an operation is pending.
class CqTag {
 public:
  virtual ~CqTag() = default;
  // `ok` as gRPC defines it for the completed operation. True: another operation was started
  // and the queue keeps the tag; false: the call is done and is deleted. Never throws.
  virtual bool proceed(bool ok) noexcept = 0;
};

class CompletionQueueRunner {
 public:
  explicit CompletionQueueRunner(std::unique_ptr<grpc::ServerCompletionQueue> cq);
  ~CompletionQueueRunner();
  CompletionQueueRunner(const CompletionQueueRunner&) = delete;
  CompletionQueueRunner& operator=(const CompletionQueueRunner&) = delete;

  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }

  // Starts `threads` threads that run every completion until the queue is drained. After each
  // completion a thread keeps polling the queue without sleeping for up to `busy_poll`, as long
  // as at most one call is in progress (see Call): the next leg of a call (the plugin's answer,
  // the host's next call) usually comes sooner, and a sleep and wake-up on these VMs costs more
  // than the whole leg (docs/decisions.md).
  void run(int threads, std::chrono::microseconds busy_poll = std::chrono::microseconds(0));

  // Marks one call in progress on the queue while it lives. With more than one, the cores are
  // busy with their peers (plugins, callers), and a polling thread would take the CPU they
  // need: then threads sleep between completions.
  class Call {
   public:
    explicit Call(CompletionQueueRunner& queue) : count_(&queue.calls_) { count_->fetch_add(1); }
    ~Call() {
      if (count_ != nullptr) count_->fetch_sub(1);
    }
    Call(Call&& o) noexcept : count_(std::exchange(o.count_, nullptr)) {}
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    Call& operator=(Call&&) = delete;

   private:
    std::atomic<int>* count_;
  };

  // Runs `start` (which starts one operation on the queue) unless the queue is closing, since
  // gRPC forbids starting one after Shutdown(). Whether it ran.
  template <class F>
  bool if_open(F&& start) {
    return gate_.if_open(std::forward<F>(start));
  }

  // Closes the gate, shuts the queue down and joins the threads once it is drained. Call after
  // the server's Shutdown(), which completes every pending server operation.
  void stop();

 private:
  void drain(std::chrono::microseconds busy_poll);

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  QueueGate gate_;
  std::atomic<int> calls_{0};
  std::vector<std::thread> threads_;
};

}  // namespace plugvisor::rpc
