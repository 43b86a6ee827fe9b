#include "echo_server.h"

#include <grpcpp/server_posix.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "plugvisor/plugin/v1/plugin.grpc.pb.h"

namespace plugvisor::bench {

namespace {

namespace pv1 = plugvisor::plugin::v1;

class EchoService final : public pv1::Plugin::Service {
 public:
  std::future<void> stopped() { return stop_.future(); }

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
    stop_.set();
    return grpc::Status::OK;
  }

 private:
  StopLatch stop_;
};

}  // namespace

int prepare_child_server(const char* flag, std::initializer_list<int> socket_fds) {
  // The bench may die without reaping us; do not outlive it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;
  for (int fd : socket_fds) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
      std::fprintf(stderr, "%s needs a socket on fd %d; the bench spawns it itself\n", flag, fd);
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  return 0;
}

int serve_on_fd3(grpc::Service& service, std::future<void> stopped) {
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

int run_echo_server() {
  if (int rc = prepare_child_server("--echo-server", {3}); rc != 0) return rc;
  EchoService service;
  return serve_on_fd3(service, service.stopped());
}

}  // namespace plugvisor::bench
