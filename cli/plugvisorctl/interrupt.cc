#include "plugvisorctl/interrupt.h"

#include <ctime>

namespace plugvisor::cli {

InterruptCanceller::InterruptCanceller() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_mask_);
  watcher_ = std::jthread([this](const std::stop_token& stop) { watch(stop); });
}

InterruptCanceller::~InterruptCanceller() {
  watcher_.request_stop();
  watcher_.join();
  const timespec now{0, 0};
  while (sigtimedwait(&signals_, nullptr, &now) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void InterruptCanceller::arm(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  context_ = context;
  if (context_ != nullptr && interrupted_) context_->TryCancel();
}

void InterruptCanceller::watch(const std::stop_token& stop) {
  // Waking up every 100 ms is how the watcher notices it should stop; a signal itself is
  // taken immediately.
  const timespec tick{0, 100'000'000};
  while (!stop.stop_requested()) {
    const int sig = sigtimedwait(&signals_, nullptr, &tick);
    if (sig < 0) continue;  // EAGAIN (tick) or EINTR
    interrupted_ = true;
    std::lock_guard lock(mu_);
    if (context_ != nullptr) context_->TryCancel();
    return;
  }
}

}  // namespace plugvisor::cli
