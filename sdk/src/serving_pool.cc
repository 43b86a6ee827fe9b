#include "serving_pool.h"

namespace plugvisor::sdk::detail {
namespace {

using std::chrono::steady_clock;

// How long the watcher keeps ticking after the last handler it saw, before it sleeps until the
// next handler wakes it: under a steady load it then never needs waking.
constexpr int kIdleTicksBeforeSleep = 20;
// How long an added thread waits for a call before it checks whether it is still needed.
constexpr std::chrono::milliseconds kSurplusIdle{100};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             steady_clock::now().time_since_epoch())
      .count();
}

// The serving thread's own slot, for InHandler.
thread_local const ServingPool* t_pool = nullptr;
thread_local std::atomic<int64_t>* t_busy_since = nullptr;

}  // namespace

ServingPool::ServingPool(grpc::CompletionQueue& cq, Options options) : cq_(cq), options_(options) {}

ServingPool::~ServingPool() { join(); }

void ServingPool::start() {
  {
    std::lock_guard lock(mu_);
    add_thread_locked(/*first=*/true);
  }
  watcher_ = std::thread([this] { watch(); });
}

void ServingPool::join() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  // Only the watcher starts threads, so the set is final now.
  for (auto& slot : slots_) {
    if (slot.thread.joinable()) slot.thread.join();
  }
}

void ServingPool::add_thread_locked(bool first) {
  const int limit = std::min(options_.max_threads, kMaxThreads);
  for (int i = 0; i < limit; ++i) {
    Slot& slot = slots_[static_cast<size_t>(i)];
    if (slot.live.load(std::memory_order_acquire)) continue;
    // A thread that left is done, so joining it here does not wait.
    if (slot.thread.joinable()) slot.thread.join();
    slot.busy_since.store(0);
    slot.live.store(true, std::memory_order_release);
    slot.thread = std::thread([this, &slot, first] { serve(slot, first); });
    threads_started_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

void ServingPool::serve(Slot& slot, bool first) {
  t_pool = this;
  t_busy_since = &slot.busy_since;
  void* tag = nullptr;
  bool ok = false;
  if (first) {
    while (cq_.Next(&tag, &ok)) {
      plugvisor::tsan_taken(tag);
      static_cast<QueueTag*>(tag)->proceed(ok);
    }
  } else {
    // An added thread is there for a blocked handler; once none is running it only makes the
    // threads take turns at polling, which costs a wake-up per call. It looks after each call,
    // and after kSurplusIdle without one.
    for (;;) {
      const auto got = cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + kSurplusIdle);
      if (got == grpc::CompletionQueue::SHUTDOWN) break;
      if (got == grpc::CompletionQueue::GOT_EVENT) {
        plugvisor::tsan_taken(tag);
        static_cast<QueueTag*>(tag)->proceed(ok);
      }
      if (!any_other_busy(slot)) break;
    }
  }
  slot.live.store(false, std::memory_order_release);
}

int ServingPool::threads_live() const {
  int live = 0;
  for (const auto& slot : slots_) live += slot.live.load(std::memory_order_acquire) ? 1 : 0;
  return live;
}

bool ServingPool::any_other_busy(const Slot& self) const {
  for (const auto& slot : slots_) {
    if (&slot != &self && slot.live.load(std::memory_order_acquire) &&
        slot.busy_since.load(std::memory_order_acquire) != 0) {
      return true;
    }
  }
  return false;
}

void ServingPool::watch() {
  const auto stuck_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stuck_after).count();
  int idle_ticks = 0;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    int live = 0;
    int stuck = 0;
    int busy = 0;
    const int64_t now = now_ns();
    for (const auto& slot : slots_) {
      if (!slot.live.load(std::memory_order_acquire)) continue;
      ++live;
      const int64_t since = slot.busy_since.load(std::memory_order_acquire);
      if (since == 0) continue;
      ++busy;
      if (now - since >= stuck_ns) ++stuck;
    }
    // Nobody is left to take calls off the queue (InFlight, Shutdown, the next Invoke).
    if (live > 0 && stuck == live) add_thread_locked(/*first=*/false);

    idle_ticks = busy > 0 ? 0 : idle_ticks + 1;
    if (idle_ticks < kIdleTicksBeforeSleep) {
      cv_.wait_for(lock, options_.stuck_after, [this] { return stopping_; });
      continue;
    }
    // Announce the sleep first, then look once more: a handler that started in between either
    // sees the flag and wakes us, or is seen here (both sides use sequentially consistent order).
    watcher_idle_.store(true);
    bool any_busy = false;
    for (const auto& slot : slots_) {
      any_busy = any_busy || (slot.live.load() && slot.busy_since.load() != 0);
    }
    if (!any_busy) cv_.wait(lock, [this] { return stopping_ || wake_; });
    wake_ = false;
    watcher_idle_.store(false);
    idle_ticks = 0;
  }
}

void ServingPool::wake_watcher() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

ServingPool::InHandler::InHandler(ServingPool& pool) {
  if (t_pool != &pool || t_busy_since == nullptr) return;
  busy_since_ = t_busy_since;
  busy_since_->store(now_ns());
  if (pool.watcher_idle_.load()) pool.wake_watcher();
}

ServingPool::InHandler::~InHandler() {
  if (busy_since_ != nullptr) busy_since_->store(0, std::memory_order_release);
}

}  // namespace plugvisor::sdk::detail
