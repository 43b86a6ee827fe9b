// The host.v1 client: HostApi over the socket the supervisor hands the plugin as fd 4.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <memory>
#include <string>

#include "plugvisor/sdk/host.h"

namespace plugvisor::sdk::detail {

// A client on the connected socket `fd`, which gRPC owns from then on. Connecting costs no
// round trip; a host that does not answer shows up as HostCode::unavailable on the first call.
std::shared_ptr<HostApi> connect_host(int fd);

// How a gRPC status reads as a HostError (the supervisor's message is kept as it is).
HostError host_error(const grpc::Status& status);

// The gRPC deadline of a host call: the invocation's, moved onto the system clock, and never
// more than kMaxHostCallTime away.
std::chrono::system_clock::time_point host_call_deadline(
    std::chrono::steady_clock::time_point deadline,
    std::chrono::steady_clock::time_point steady_now,
    std::chrono::system_clock::time_point system_now);

}  // namespace plugvisor::sdk::detail
