// QueueGate: lets operations start on a gRPC completion queue until it is closing. gRPC forbids
// starting one after the queue's Shutdown(), and the threads that start them (queue threads
// continuing a call) cannot know when that happens without a lock. Header-only, so the SDK uses
// it too.
#pragma once

#include <mutex>
#include <shared_mutex>

namespace plugvisor {

// ThreadSanitizer cannot see the synchronisation inside Debian's (uninstrumented) gRPC, so a tag
// handed to another thread through a completion queue looks like a race. Whoever puts a tag on the
// queue calls tsan_handing_over(tag) first; the serving thread calls tsan_taken(tag) when it gets
// it.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
inline void tsan_handing_over(void* tag) { __tsan_release(tag); }
inline void tsan_taken(void* tag) { __tsan_acquire(tag); }
#else
inline void tsan_handing_over(void*) {}
inline void tsan_taken(void*) {}
#endif

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
