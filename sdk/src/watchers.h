// The two threads that can end a plugin besides the Shutdown RPC:
// - SignalWatcher sigwait()s SIGTERM/SIGINT (blocked in every other thread) and asks for an
//   orderly stop; a second signal ends the process at once.
// - HangupWatcher notices the supervisor closing its end of fd 3 (it died, or gave up on us)
//   and asks for a stop without grace: nobody is left to answer to. At the end it also tells
//   when the supervisor has read everything sent to it, so closing fd 3 loses no answer.
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "lifecycle.h"
#include "plugvisor/common/unique_fd.h"

namespace plugvisor::sdk::detail {

class SignalWatcher {
 public:
  // `signals` must already be blocked in the calling thread (and so in every thread it starts).
  SignalWatcher(const sigset_t& signals, Lifecycle& lifecycle);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void loop();

  sigset_t signals_;
  Lifecycle& lifecycle_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

class HangupWatcher {
 public:
  // Watches a dup of `fd`, so gRPC keeps sole ownership of the original.
  HangupWatcher(int fd, Lifecycle& lifecycle);
  ~HangupWatcher();
  HangupWatcher(const HangupWatcher&) = delete;
  HangupWatcher& operator=(const HangupWatcher&) = delete;

  // Waits until the supervisor has read all that was sent on fd 3 (or hung up), or `deadline`;
  // false on the deadline. An answer still unread when the plugin exits can be lost: the
  // supervisor's transport may hit EPIPE on a write of its own and fail the call first.
  bool wait_until_read(std::chrono::steady_clock::time_point deadline) const;

 private:
  void loop();

  UniqueFd watched_;
  UniqueFd wake_;  // eventfd that ends loop()
  Lifecycle& lifecycle_;
  std::thread thread_;
};

}  // namespace plugvisor::sdk::detail
