// The bench's own gRPC servers, each the bench binary re-exec'd with a flag:
//  - `--echo-server` (the baseline), spawned with a socketpair end on fd 3. It serves
//    plugvisor.plugin.v1 through the raw generated service (no SDK) and answers every Invoke
//    with an empty InvokeResponse at once, so a call costs exactly one gRPC round trip.
//  - `--relay-server` (the two-hop floor, relay_server.cc), built from the same pieces.
//  - `--async-relay-server` (the async relay experiment, async_relay_server.cc), which shares
//    prepare_child_server() and StopLatch.
#pragma once

#include <grpcpp/grpcpp.h>

#include <future>
#include <initializer_list>
#include <mutex>

namespace plugvisor::bench {

// Serves until Shutdown is called or the parent dies; returns the process's exit code.
int run_echo_server();

// Fulfilled by the first Shutdown RPC. A sync server cannot be shut down from inside one of its
// own calls, so the handler only sets this and serve_on_fd3() does the rest.
class StopLatch {
 public:
  std::future<void> future() { return stop_.get_future(); }
  void set() {
    std::call_once(once_, [this] { stop_.set_value(); });
  }

 private:
  std::promise<void> stop_;
  std::once_flag once_;
};

// What a re-exec'd server does first: die with the bench (which may not get to reap it), and
// check that `socket_fds` are sockets, i.e. that the bench spawned it rather than a user.
// Returns 0, or the exit code to return.
int prepare_child_server(const char* flag, std::initializer_list<int> socket_fds);

// Serves `service` on the socket on fd 3 until `stopped` is ready; the process's exit code.
int serve_on_fd3(grpc::Service& service, std::future<void> stopped);

}  // namespace plugvisor::bench
