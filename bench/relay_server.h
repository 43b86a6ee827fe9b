// The two-hop floor's middle process: `plugvisor-bench-dispatch --relay-server`, spawned with a
// socketpair to the bench on fd 3 and one to a second `--echo-server` on fd 4. It serves
// plugvisor.plugin.v1 with the raw generated sync service, like the echo server, and forwards
// each Invoke unchanged to the echo server through a sync stub on fd 4: two gRPC hops with the
// transport plugvisord uses and none of its logic, so the smallest two-hop path there can be.
#pragma once

namespace plugvisor::bench {

// Serves until Shutdown is called (which it passes on to the echo server) or the parent dies;
// returns the process's exit code.
int run_relay_server();

}  // namespace plugvisor::bench
