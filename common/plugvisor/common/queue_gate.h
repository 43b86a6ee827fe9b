// QueueGate: lets operations start on a gRPC completion queue until it is closing. gRPC forbids
// starting one after the queue's Shutdown(), and the threads that start them (queue threads
// continuing a call) cannot know when that happens without a lock. Header-only, so the SDK uses
// it too.
#pragma once

#include <mutex>
#include <shared_mutex>

namespace plugvisor {

class QueueGate {
 public:
  // Runs `start_op` (which starts one operation on the queue) unless the gate is closed.
  // Whether it ran.
  template <class F>
  bool if_open(F&& start_op) {
    std::shared_lock lock(mu_);
    if (closed_) return false;
    start_op();
    return true;
  }

  // Closes the gate once every operation being started has started. False if it was already
  // closed.
  bool close() {
    std::unique_lock lock(mu_);
    if (closed_) return false;
    closed_ = true;
    return true;
  }

 private:
  std::shared_mutex mu_;
  bool closed_ = false;
};

}  // namespace plugvisor
