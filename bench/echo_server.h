// The baseline's server: `plugvisor-bench-dispatch --echo-server`, spawned with a socketpair end
// on fd 3. It serves plugvisor.plugin.v1 through the raw generated service (no SDK) and answers
// every Invoke with an empty InvokeResponse at once, so a call costs exactly one gRPC round trip.
#pragma once

namespace plugvisor::bench {

// Serves until Shutdown is called or the parent dies; returns the process's exit code.
int run_echo_server();

}  // namespace plugvisor::bench
