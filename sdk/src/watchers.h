// The two threads that can end a plugin besides the Shutdown RPC:
// - SignalWatcher sigwait()s SIGTERM/SIGINT (blocked in every other thread) and asks for an
//   orderly stop; a second signal ends the process at once.
// - HangupWatcher notices the supervisor closing its end of fd 3 (it died, or gave up on us)
//   and asks for a stop without grace: nobody is left to answer to.
#pragma once

#include <signal.h>

#include <atomic>
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

 private:
  void loop();

  UniqueFd watched_;
  UniqueFd wake_;  // eventfd that ends loop()
  Lifecycle& lifecycle_;
  std::thread thread_;
};

}  // namespace plugvisor::sdk::detail
