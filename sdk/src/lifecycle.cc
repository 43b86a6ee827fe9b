#include "lifecycle.h"

namespace plugvisor::sdk::detail {

Lifecycle::Ticket::~Ticket() {
  if (owner_ != nullptr) owner_->release(it_);
}

std::optional<Lifecycle::Ticket> Lifecycle::admit(const std::string& invocation_id) {
  std::lock_guard lock(mu_);
  if (stop_) return std::nullopt;
  return Ticket(*this, in_flight_.insert(invocation_id));
}

void Lifecycle::release(std::multiset<std::string>::iterator it) {
  std::lock_guard lock(mu_);
  if (stop_) answering_while_stopping_ = true;  // a drained invocation's answer follows
  in_flight_.erase(it);
  // Only drain() waits for this, and only once a stop was requested. Waking the main thread
  // (parked in wait_for_stop) after every call would cost a futex wake-up per call.
  if (stop_ && in_flight_.empty()) cv_.notify_all();
}

std::vector<std::string> Lifecycle::in_flight() const {
  std::lock_guard lock(mu_);
  return {in_flight_.begin(), in_flight_.end()};
}

void Lifecycle::request_stop(std::chrono::milliseconds grace, std::string why) {
  std::lock_guard lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  if (!stop_) {
    stop_ = StopRequest{grace, std::move(why)};
    stop_deadline_ = deadline;
  } else if (deadline < stop_deadline_) {
    stop_deadline_ = deadline;
  }
  cv_.notify_all();
}

bool Lifecycle::stopping() const {
  std::lock_guard lock(mu_);
  return stop_.has_value();
}

Lifecycle::StopRequest Lifecycle::wait_for_stop() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stop_.has_value(); });
  return *stop_;
}

bool Lifecycle::drain() {
  std::unique_lock lock(mu_);
  // A later, shorter request_stop() moves stop_deadline_ forward, so re-read it each wake-up.
  while (!in_flight_.empty()) {
    if (std::chrono::steady_clock::now() >= stop_deadline_) return false;
    cv_.wait_until(lock, stop_deadline_);
  }
  return true;
}

std::chrono::steady_clock::time_point Lifecycle::stop_deadline() const {
  std::lock_guard lock(mu_);
  return stop_deadline_;
}

void Lifecycle::call_started() {
  std::lock_guard lock(mu_);
  ++open_calls_;
}

void Lifecycle::call_finished() {
  std::lock_guard lock(mu_);
  if (--open_calls_ == 0 && stop_) cv_.notify_all();  // see release()
}

bool Lifecycle::wait_calls_finished(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return open_calls_ == 0; });
}

void Lifecycle::answering_while_stopping() {
  std::lock_guard lock(mu_);
  answering_while_stopping_ = true;
}

bool Lifecycle::answered_while_stopping() const {
  std::lock_guard lock(mu_);
  return answering_while_stopping_;
}

}  // namespace plugvisor::sdk::detail
