// The error of a host.v1 call, shared by the supervisor's host services and the SDK's in-memory
// test host so that both refuse the same things the same way. `code` uses gRPC's numbering so
// it maps onto a grpc::Status one to one; a denial also names the permission and the target,
// which go into the receipt and the permission_denied event.
#pragma once

#include <string>

#include "plugvisor/common/result.h"

namespace plugvisor::hostcall {

enum class Code : int {
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  internal = 13,
  unavailable = 14,
};

struct HostError {
  Code code = Code::internal;
  std::string message;
  // Set for permission_denied only: which permission refused (e.g. "network", "secrets",
  // "ai", "events", "invocation_token", "tenant") and the target it was asked for.
  std::string permission;
  std::string target;
};

template <typename T>
using HostResult = Result<T, HostError>;
using HostStatus = Result<void, HostError>;

inline HostError denied(std::string permission, std::string target, std::string why) {
  return {Code::permission_denied,
          "permission " + permission + " denies " + target + ": " + why, permission, target};
}
inline HostError invalid(std::string message) { return {Code::invalid_argument, std::move(message), {}, {}}; }
inline HostError exhausted(std::string message) { return {Code::resource_exhausted, std::move(message), {}, {}}; }
inline HostError unavailable(std::string message) { return {Code::unavailable, std::move(message), {}, {}}; }
inline HostError aborted(std::string message) { return {Code::aborted, std::move(message), {}, {}}; }
inline HostError deadline(std::string message) { return {Code::deadline_exceeded, std::move(message), {}, {}}; }
inline HostError internal(std::string message) { return {Code::internal, std::move(message), {}, {}}; }

}  // namespace plugvisor::hostcall
