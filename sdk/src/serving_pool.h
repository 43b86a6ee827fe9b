// ServingPool: the threads that run the plugin's completion queue, and the handlers on it.
//
// Handlers run on the thread that took the call off the queue, so a call costs no hand-off
// between threads: gRPC's sync server made every call a wake-up of another poller thread, which
// on a busy 2-core machine cost more than the call itself (bench/README.md). One thread serves
// while handlers are quick. A handler that blocks (a host call, a sleep, a hang) would stop the
// queue, so a watcher adds a thread whenever every serving thread has been inside one handler for
// `stuck_after`; an added thread leaves again once it finds no other thread in a handler. The
// watcher ticks only while handlers run, and sleeps while the plugin is idle.
#pragma once

#include <grpcpp/completion_queue.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "plugvisor/common/queue_gate.h"

namespace plugvisor::sdk::detail {

// What is put on the queue as a tag. It decides on its own lifetime; it never throws.
class QueueTag {
 public:
  virtual void proceed(bool ok) noexcept = 0;

 protected:
  ~QueueTag() = default;
};

class ServingPool {
 public:
  static constexpr int kMaxThreads = 64;
  struct Options {
    std::chrono::milliseconds stuck_after{5};
    int max_threads = kMaxThreads;
  };

  ServingPool(grpc::CompletionQueue& cq, Options options);
  ~ServingPool();  // join()
  ServingPool(const ServingPool&) = delete;
  ServingPool& operator=(const ServingPool&) = delete;

  // The first serving thread and the watcher.
  void start();
  // Waits for every thread; call after the queue's Shutdown(), so that the threads drain it.
  void join();

  // Marks the calling serving thread as inside a handler while it lives. On other threads (the
  // SDK's tests) it does nothing.
  class InHandler {
   public:
    explicit InHandler(ServingPool& pool);
    ~InHandler();
    InHandler(const InHandler&) = delete;
    InHandler& operator=(const InHandler&) = delete;

   private:
    std::atomic<int64_t>* busy_since_ = nullptr;
  };

  // Threads started so far, the first one included (for tests and the log).
  int threads_started() const { return threads_started_.load(std::memory_order_relaxed); }
  // Threads serving now.
  int threads_live() const;

 private:
  struct Slot {
    std::thread thread;
    std::atomic<bool> live{false};
    // steady_clock nanoseconds since the handler started; 0 outside handlers.
    std::atomic<int64_t> busy_since{0};
  };

  void serve(Slot& slot, bool first);
  void watch();
  // Under mu_: starts a thread in a free slot, if there is one.
  void add_thread_locked(bool first);
  bool any_other_busy(const Slot& self) const;
  void wake_watcher();

  grpc::CompletionQueue& cq_;
  const Options options_;
  std::array<Slot, kMaxThreads> slots_;
  std::atomic<int> threads_started_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  // Set while the watcher sleeps without a timeout; a handler that starts then wakes it.
  std::atomic<bool> watcher_idle_{false};
  std::thread watcher_;
};

}  // namespace plugvisor::sdk::detail
