#include "guard/guards.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

namespace plugvisor::guard {

std::string_view to_string(CircuitState state) {
  switch (state) {
    case CircuitState::closed:
      return "closed";
    case CircuitState::open:
      return "open";
    case CircuitState::half_open:
      return "half_open";
  }
  return "";
}

// ---- CircuitBreaker ----

CircuitBreaker::CircuitBreaker(const Clock& clock, uint32_t failure_threshold,
                               milliseconds open_for)
    : clock_(clock), threshold_(std::max<uint32_t>(failure_threshold, 1)), open_for_(open_for) {}

bool CircuitBreaker::allow() {
  switch (state_) {
    case CircuitState::closed:
      return true;
    case CircuitState::open:
      if (clock_.now() - opened_at_ < open_for_) return false;
      state_ = CircuitState::half_open;
      probe_in_flight_ = true;
      return true;
    case CircuitState::half_open:
      // One probe at a time: a second caller would hit a plugin we still doubt.
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::record_success() {
  consecutive_failures_ = 0;
  // A success that lands while the circuit is open came from a call admitted before it opened;
  // it says nothing about the plugin now, so only a probe's success closes the circuit.
  if (state_ == CircuitState::half_open) {
    state_ = CircuitState::closed;
    probe_in_flight_ = false;
  }
}

void CircuitBreaker::record_failure() {
  switch (state_) {
    case CircuitState::closed:
      if (++consecutive_failures_ >= threshold_) {
        state_ = CircuitState::open;
        opened_at_ = clock_.now();
      }
      break;
    case CircuitState::half_open:
      state_ = CircuitState::open;
      opened_at_ = clock_.now();
      probe_in_flight_ = false;
      break;
    case CircuitState::open:
      // Late failures of calls admitted before the circuit opened do not extend the pause.
      break;
  }
}

void CircuitBreaker::record_neutral() {
  if (state_ == CircuitState::half_open) probe_in_flight_ = false;
}

CircuitState CircuitBreaker::state() const {
  if (state_ == CircuitState::open && clock_.now() - opened_at_ >= open_for_) {
    return CircuitState::half_open;
  }
  return state_;
}

void CircuitBreaker::reset() {
  state_ = CircuitState::closed;
  consecutive_failures_ = 0;
  opened_at_ = {};
  probe_in_flight_ = false;
}

// ---- RestartBackoff ----

RestartBackoff::RestartBackoff(const GuardConfig& config, std::function<double()> uniform01)
    : config_(config), uniform01_(std::move(uniform01)) {
  if (!uniform01_) {
    uniform01_ = [rng = std::mt19937(std::random_device{}()),
                  dist = std::uniform_real_distribution<double>(0.0, 1.0)]() mutable {
      return dist(rng);
    };
  }
}

milliseconds RestartBackoff::next_delay() {
  const double initial = static_cast<double>(config_.backoff_initial.count());
  const double cap = static_cast<double>(config_.backoff_max.count());
  // pow() overflows to inf long before attempts_ does, and min() turns inf into the cap.
  const double base = std::min(initial * std::pow(config_.backoff_multiplier, attempts_), cap);
  const double u = std::clamp(uniform01_(), 0.0, 1.0);
  const double scaled = base * (1.0 + config_.backoff_jitter * (2.0 * u - 1.0));
  ++attempts_;
  return milliseconds(static_cast<int64_t>(std::llround(std::max(scaled, 0.0))));
}

void RestartBackoff::note_healthy(Clock::duration healthy_for) {
  if (healthy_for >= config_.backoff_reset_after) attempts_ = 0;
}

void RestartBackoff::reset() { attempts_ = 0; }

// ---- CrashLoopDetector ----

CrashLoopDetector::CrashLoopDetector(const Clock& clock, uint32_t max_failures, milliseconds window)
    : clock_(clock), max_failures_(std::max<uint32_t>(max_failures, 1)), window_(window) {}

bool CrashLoopDetector::record_failure() {
  failures_.push_back(clock_.now());
  return failures_in_window() >= max_failures_;
}

uint32_t CrashLoopDetector::failures_in_window() const {
  // A failure exactly `window` old has left the window.
  const Clock::time_point now = clock_.now();
  while (!failures_.empty() && now - failures_.front() >= window_) failures_.pop_front();
  return static_cast<uint32_t>(failures_.size());
}

void CrashLoopDetector::reset() { failures_.clear(); }

}  // namespace plugvisor::guard
