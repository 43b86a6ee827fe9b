#include "echo_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <future>
#include <mutex>

#include "plugvisor/plugin/v1/plugin.grpc.pb.h"

namespace plugvisor::bench {

namespace {

namespace pv1 = plugvisor::plugin::v1;

class EchoService final : public pv1::Plugin::Service {
 public:
  std::future<void> stopped() { return stop_.get_future(); }

  grpc::Status Describe(grpc::ServerContext*, const pv1::DescribeRequest*,
                        pv1::DescribeResponse* resp) override {
    resp->set_protocol_version(1);
    resp->set_plugin_id("bench-echo");
    return grpc::Status::OK;
  }

  grpc::Status Invoke(grpc::ServerContext*, const pv1::InvokeRequest*,
                      pv1::InvokeResponse*) override {
    return grpc::Status::OK;
  }

  grpc::Status Shutdown(grpc::ServerContext*, const pv1::ShutdownRequest*,
                        pv1::ShutdownResponse*) override {
    // The server cannot be shut down from inside one of its own calls; main() does it.
    std::call_once(once_, [this] { stop_.set_value(); });
    return grpc::Status::OK;
  }

 private:
  std::promise<void> stop_;
  std::once_flag once_;
};

}  // namespace

int run_echo_server() {
  // The bench may die without reaping us; do not outlive it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;
  struct stat st {};
  if (fstat(3, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::fprintf(stderr, "--echo-server needs a socket on fd 3; the bench spawns it itself\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  EchoService service;
  auto stopped = service.stopped();
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server) return 1;
  grpc::AddInsecureChannelFromFd(server.get(), 3);
  stopped.wait();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  server->Wait();
  return 0;
}

}  // namespace plugvisor::bench
