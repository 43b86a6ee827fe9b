#include "relay_server.h"

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>

#include <memory>

#include "echo_server.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"

namespace plugvisor::bench {

namespace {

namespace pv1 = plugvisor::plugin::v1;

constexpr int kEchoFd = 4;

class RelayService final : public pv1::Plugin::Service {
 public:
  explicit RelayService(std::unique_ptr<pv1::Plugin::Stub> echo) : echo_(std::move(echo)) {}
  std::future<void> stopped() { return stop_.future(); }

  // Answered here: only Invoke is measured, and the bench never asks the relay to Describe.
  grpc::Status Describe(grpc::ServerContext*, const pv1::DescribeRequest*,
                        pv1::DescribeResponse* resp) override {
    resp->set_protocol_version(1);
    resp->set_plugin_id("bench-relay");
    return grpc::Status::OK;
  }

  // The whole relay: one sync call per incoming call, on the server's own thread, as the
  // dispatcher's plugin calls are. Only the deadline is carried over (a plain field copy); no
  // context propagation, which would be plugvisor-independent work the floor should not pay.
  grpc::Status Invoke(grpc::ServerContext* server_ctx, const pv1::InvokeRequest* req,
                      pv1::InvokeResponse* resp) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(server_ctx->deadline());
    return echo_->Invoke(&ctx, *req, resp);
  }

  // The bench cannot reach the echo server behind us, so we stop it on the way out; the bench
  // then waits for both processes (and SIGKILLs whichever is left).
  grpc::Status Shutdown(grpc::ServerContext*, const pv1::ShutdownRequest* req,
                        pv1::ShutdownResponse*) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    pv1::ShutdownResponse echo_resp;
    const grpc::Status s = echo_->Shutdown(&ctx, *req, &echo_resp);
    stop_.set();
    return s;
  }

 private:
  std::unique_ptr<pv1::Plugin::Stub> echo_;
  StopLatch stop_;
};

}  // namespace

int run_relay_server() {
  if (int rc = prepare_child_server("--relay-server", {3, kEchoFd}); rc != 0) return rc;
  // The channel owns fd 4 from here on and closes it when it goes.
  RelayService service(
      pv1::Plugin::NewStub(grpc::CreateInsecureChannelFromFd("bench-relay-echo", kEchoFd)));
  return serve_on_fd3(service, service.stopped());
}

}  // namespace plugvisor::bench
