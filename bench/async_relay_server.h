// An experimental two-hop floor with the classic async API:
// `plugvisor-bench-dispatch --async-relay-server --cq-threads N`, spawned like `--relay-server`
// (a socketpair to the bench on fd 3, one to a sync `--echo-server` on fd 4). It serves
// plugvisor.plugin.v1 with the generated AsyncService and forwards each Invoke unchanged with an
// async stub call (PrepareAsyncInvoke) on the SAME ServerCompletionQueue, driven by N threads of
// its own and nothing else: with N = 1 the incoming call and its forwarded call never change
// threads. It asks whether such a relay beats the sync floor (relay_server.cc); it is not the
// callback API, which on epoll1 starts poller threads of its own.
#pragma once

namespace plugvisor::bench {

// Serves until Shutdown is called (which it passes on to the echo server) or the parent dies;
// returns the process's exit code.
int run_async_relay_server(int cq_threads);

}  // namespace plugvisor::bench
