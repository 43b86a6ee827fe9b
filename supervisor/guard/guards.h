// Per-plugin guards of DESIGN.md "Guards". Pure logic over the Clock seam; not thread-safe
// (the owning plugin runtime serialises access).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>

#include "plugvisor/common/clock.h"

namespace plugvisor::guard {

using std::chrono::milliseconds;

struct GuardConfig {
  uint32_t breaker_failure_threshold = 3;
  milliseconds breaker_open_for{60'000};
  milliseconds backoff_initial{1'000};
  milliseconds backoff_max{300'000};
  double backoff_multiplier = 2.0;
  double backoff_jitter = 0.25;               // +-25 %
  milliseconds backoff_reset_after{600'000};  // healthy running time that resets the backoff
  uint32_t crash_loop_max_failures = 5;
  milliseconds crash_loop_window{300'000};
};

enum class CircuitState { closed, open, half_open };
std::string_view to_string(CircuitState state);

// Opens after N consecutive failed invocations; after open_for lets one probe through.
class CircuitBreaker {
 public:
  CircuitBreaker(const Clock& clock, uint32_t failure_threshold, milliseconds open_for);

  // May this invocation run? In half_open exactly one caller gets true until it settles.
  bool allow();
  void record_success();
  void record_failure();
  // Settles an allowed invocation that was neither success nor failure (e.g. refused upstream).
  void record_neutral();
  CircuitState state() const;  // reports half_open once open_for has passed
  void reset();

 private:
  const Clock& clock_;
  uint32_t threshold_;
  milliseconds open_for_;
  CircuitState state_ = CircuitState::closed;
  uint32_t consecutive_failures_ = 0;
  Clock::time_point opened_at_{};
  bool probe_in_flight_ = false;
};

// 1 s doubling to 5 min with +-25 % jitter; reset after a long enough healthy run.
class RestartBackoff {
 public:
  // `uniform01` returns a number in [0, 1); injectable so tests are deterministic.
  RestartBackoff(const GuardConfig& config, std::function<double()> uniform01 = {});

  // The delay before the next restart attempt; advances the exponent.
  milliseconds next_delay();
  // Call when the plugin has been ready since `ready_since`; resets once that is long enough.
  void note_healthy(Clock::duration healthy_for);
  void reset();
  uint32_t attempts() const { return attempts_; }

 private:
  GuardConfig config_;
  std::function<double()> uniform01_;
  uint32_t attempts_ = 0;
};

// N failures (crash, kill after timeout, failed start) within a sliding window.
class CrashLoopDetector {
 public:
  CrashLoopDetector(const Clock& clock, uint32_t max_failures, milliseconds window);

  // Records a failure now; returns true if the plugin is now crash-looping.
  bool record_failure();
  uint32_t failures_in_window() const;
  void reset();

 private:
  const Clock& clock_;
  uint32_t max_failures_;
  milliseconds window_;
  mutable std::deque<Clock::time_point> failures_;
};

}  // namespace plugvisor::guard
