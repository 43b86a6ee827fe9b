#pragma once

#include <string_view>

namespace plugvisor::process {

// DESIGN.md "Lifecycle states". Persisted on every transition, and every transition is an event.
enum class State { starting, ready, circuit_open, backoff, stopping, stopped, disabled, failed };

constexpr std::string_view to_string(State s) {
  switch (s) {
    case State::starting: return "starting";
    case State::ready: return "ready";
    case State::circuit_open: return "circuit_open";
    case State::backoff: return "backoff";
    case State::stopping: return "stopping";
    case State::stopped: return "stopped";
    case State::disabled: return "disabled";
    case State::failed: return "failed";
  }
  return "unknown";
}

}  // namespace plugvisor::process
