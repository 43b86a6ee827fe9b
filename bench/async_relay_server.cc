#include "async_relay_server.h"

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include <memory>
#include <utility>

#include "echo_server.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"
#include "rpc/completion_queue.h"

namespace plugvisor::bench {

namespace {

namespace pv1 = plugvisor::plugin::v1;
using std::chrono::system_clock;

constexpr int kEchoFd = 4;
// Incoming Invokes the relay is ready for at once (each one it accepts posts a new one), so that
// sixteen concurrent calls never wait for a re-post.
constexpr int kInvokeSlots = 16;

// What all calls share: the service, the one queue (plugvisord's own CompletionQueueRunner, which
// also keeps operations from starting once it is shutting down), and the stub to the echo server
// on fd 4, whose calls complete on that same queue.
struct Relay {
  pv1::Plugin::AsyncService service;
  std::unique_ptr<rpc::CompletionQueueRunner> queue;
  std::unique_ptr<pv1::Plugin::Stub> echo;
  StopLatch stop;

  grpc::ServerCompletionQueue* cq() const { return queue->cq(); }
  template <class F>
  bool if_open(F&& start) {
    return queue->if_open(std::forward<F>(start));
  }
};

// The two methods the relay passes on, and how.
struct InvokeMethod {
  using Request = pv1::InvokeRequest;
  using Response = pv1::InvokeResponse;
  static constexpr bool kStopsRelay = false;
  static void request(Relay& r, grpc::ServerContext* ctx, Request* req,
                      grpc::ServerAsyncResponseWriter<Response>* writer, void* tag) {
    r.service.RequestInvoke(ctx, req, writer, r.cq(), r.cq(), tag);
  }
  static auto forward(Relay& r, grpc::ClientContext* ctx, const Request& req) {
    return r.echo->PrepareAsyncInvoke(ctx, req, r.cq());
  }
  // Only the deadline is carried over, as in the sync relay.
  static system_clock::time_point deadline(const grpc::ServerContext& ctx) {
    return ctx.deadline();
  }
};

// The bench cannot reach the echo server behind us, so Shutdown is passed on, then stops us.
struct ShutdownMethod {
  using Request = pv1::ShutdownRequest;
  using Response = pv1::ShutdownResponse;
  static constexpr bool kStopsRelay = true;
  static void request(Relay& r, grpc::ServerContext* ctx, Request* req,
                      grpc::ServerAsyncResponseWriter<Response>* writer, void* tag) {
    r.service.RequestShutdown(ctx, req, writer, r.cq(), r.cq(), tag);
  }
  static auto forward(Relay& r, grpc::ClientContext* ctx, const Request& req) {
    return r.echo->PrepareAsyncShutdown(ctx, req, r.cq());
  }
  static system_clock::time_point deadline(const grpc::ServerContext&) {
    return system_clock::now() + std::chrono::seconds(2);
  }
};

// An incoming call of method M: accepted, forwarded to the echo server, answered with its
// answer. Every step is one operation on the same queue, continued by whichever queue thread
// gets its completion (the only one, with --cq-threads 1).
template <class M>
class ForwardedCall final : public rpc::CqTag {
 public:
  explicit ForwardedCall(Relay& relay) : relay_(relay) {}

  // Waits for the next incoming call of M.
  static void post(Relay& relay) {
    auto call = std::make_unique<ForwardedCall>(relay);
    ForwardedCall* c = call.get();
    if (relay.if_open([&] { M::request(relay, &c->server_ctx_, &c->req_, &c->responder_, c); })) {
      call.release();  // the queue owns it now
    }
  }

  bool proceed(bool ok) noexcept override {
    switch (state_) {
      case State::kAccepting: {
        if (!ok) return false;  // the server is shutting down
        // Once the forward is started, another queue thread may finish and delete this call.
        Relay& relay = relay_;
        state_ = State::kForwarding;
        client_ctx_.set_deadline(M::deadline(server_ctx_));
        const bool forwarded = relay_.if_open([this] {
          reader_ = M::forward(relay_, &client_ctx_, req_);
          reader_->StartCall();
          reader_->Finish(&resp_, &status_, this);
        });
        post(relay);  // the next one, once this call's forward is on its way
        return forwarded;
      }
      case State::kForwarding:  // a client Finish always completes with ok
        state_ = State::kReplying;
        return relay_.if_open([this] { responder_.Finish(resp_, status_, this); });
      case State::kReplying:
        if (M::kStopsRelay) relay_.stop.set();
        return false;
    }
    return false;
  }

 private:
  enum class State { kAccepting, kForwarding, kReplying };
  Relay& relay_;
  State state_ = State::kAccepting;
  grpc::ServerContext server_ctx_;
  typename M::Request req_;
  grpc::ServerAsyncResponseWriter<typename M::Response> responder_{&server_ctx_};
  grpc::ClientContext client_ctx_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<typename M::Response>> reader_;
  typename M::Response resp_;
  grpc::Status status_;
};

// Answered here: only Invoke is measured, and the bench never asks the relay to Describe.
class DescribeCall final : public rpc::CqTag {
 public:
  explicit DescribeCall(Relay& relay) : relay_(relay) {}

  static void post(Relay& relay) {
    auto call = std::make_unique<DescribeCall>(relay);
    DescribeCall* c = call.get();
    if (relay.if_open([&] {
          relay.service.RequestDescribe(&c->server_ctx_, &c->req_, &c->responder_, relay.cq(),
                                        relay.cq(), c);
        })) {
      call.release();
    }
  }

  bool proceed(bool ok) noexcept override {
    if (!ok || answered_) return false;
    post(relay_);
    answered_ = true;
    resp_.set_protocol_version(1);
    resp_.set_plugin_id("bench-async-relay");
    return relay_.if_open([this] { responder_.Finish(resp_, grpc::Status::OK, this); });
  }

 private:
  Relay& relay_;
  bool answered_ = false;
  grpc::ServerContext server_ctx_;
  pv1::DescribeRequest req_;
  grpc::ServerAsyncResponseWriter<pv1::DescribeResponse> responder_{&server_ctx_};
  pv1::DescribeResponse resp_;
};

}  // namespace

int run_async_relay_server(int cq_threads) {
  if (int rc = prepare_child_server("--async-relay-server", {3, kEchoFd}); rc != 0) return rc;
  if (cq_threads < 1) return 2;
  Relay relay;
  // The channel owns fd 4 from here on and closes it when it goes.
  relay.echo =
      pv1::Plugin::NewStub(grpc::CreateInsecureChannelFromFd("bench-async-relay-echo", kEchoFd));
  grpc::ServerBuilder builder;
  builder.RegisterService(&relay.service);
  relay.queue = std::make_unique<rpc::CompletionQueueRunner>(builder.AddCompletionQueue());
  // Declared after `relay`, so destroyed before the queue and the service it uses.
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return 1;
  grpc::AddInsecureChannelFromFd(server.get(), 3);

  DescribeCall::post(relay);
  ForwardedCall<ShutdownMethod>::post(relay);
  for (int i = 0; i < kInvokeSlots; ++i) ForwardedCall<InvokeMethod>::post(relay);
  relay.queue->run(cq_threads);

  relay.stop.future().wait();
  // Calls still open get cancelled; their completions still reach the queue threads, which
  // then stop starting operations, and return once the queue is drained.
  server->Shutdown(system_clock::now() + std::chrono::milliseconds(200));
  relay.queue->stop();
  return 0;
}

}  // namespace plugvisor::bench
