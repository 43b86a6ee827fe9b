// Ctrl-C for a streaming call. A signal handler may not call ClientContext::TryCancel (it is
// not async-signal-safe), so SIGINT and SIGTERM are blocked and a watcher thread takes them
// with sigtimedwait, then cancels the armed call from ordinary thread context.
#pragma once

#include <grpcpp/client_context.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace plugvisor::cli {

class InterruptCanceller {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread. Threads inherit the mask, so construct
  // this before the first gRPC channel: gRPC's own threads then never take the signal.
  InterruptCanceller();
  // Stops the watcher, drops signals that arrived after it stopped (they would otherwise kill
  // the process the moment the mask is restored), and restores the caller's mask.
  ~InterruptCanceller();
  InterruptCanceller(const InterruptCanceller&) = delete;
  InterruptCanceller& operator=(const InterruptCanceller&) = delete;

  // The call to cancel on a signal. If a signal came before the call existed, it is cancelled
  // at once. Disarm (nullptr) before the context goes away.
  void arm(grpc::ClientContext* context);

  bool interrupted() const { return interrupted_.load(); }

  // The watcher thread, so that tests can direct a signal at it with pthread_kill.
  pthread_t watcher_handle() { return watcher_.native_handle(); }

 private:
  void watch(const std::stop_token& stop);

  sigset_t signals_{};
  sigset_t previous_mask_{};
  std::atomic<bool> interrupted_{false};
  std::mutex mu_;
  grpc::ClientContext* context_ = nullptr;  // guarded by mu_
  std::jthread watcher_;                    // last: it uses the members above
};

}  // namespace plugvisor::cli
