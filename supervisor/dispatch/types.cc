#include "dispatch/types.h"

namespace plugvisor::dispatch {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::none:
      return "";
    case ErrorCode::timeout:
      return "TIMEOUT";
    case ErrorCode::plugin_crashed:
      return "PLUGIN_CRASHED";
    case ErrorCode::invalid_output:
      return "INVALID_OUTPUT";
    case ErrorCode::circuit_open:
      return "CIRCUIT_OPEN";
    case ErrorCode::load_error:
      return "LOAD_ERROR";
    case ErrorCode::execution_error:
      return "EXECUTION_ERROR";
    case ErrorCode::budget_exceeded:
      return "BUDGET_EXCEEDED";
    case ErrorCode::permission_denied:
      return "PERMISSION_DENIED";
    case ErrorCode::disabled:
      return "DISABLED";
  }
  return "";
}

std::string_view to_string(FailPolicy policy) {
  return policy == FailPolicy::closed ? "fail_closed" : "fail_open";
}

std::optional<FailPolicy> parse_fail_policy(std::string_view text) {
  if (text == "fail_open") return FailPolicy::open;
  if (text == "fail_closed") return FailPolicy::closed;
  return std::nullopt;
}

}  // namespace plugvisor::dispatch
