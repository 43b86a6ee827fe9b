#include "plugin_server.h"

#include <atomic>
#include <utility>

namespace plugvisor::sdk::detail {
namespace {

// Invoke calls the queue is ready for at once; each one taken posts another, so that the
// supervisor's concurrent calls never wait for a re-post. The other methods are rare.
constexpr int kInvokeSlots = 16;

// How each method is requested from gRPC (`RequestFn`: the AsyncService's RequestX) and how many
// calls of it the queue waits for at once. Each method below adds how PluginService answers it.
template <class Req, class Resp, auto RequestFn, int Slots>
struct AsyncMethod {
  using Request = Req;
  using Response = Resp;
  static constexpr int kSlots = Slots;
  static void request(PluginServer& s, grpc::ServerContext* ctx, Req* req,
                      grpc::ServerAsyncResponseWriter<Resp>* writer, void* tag) {
    (s.async_service().*RequestFn)(ctx, req, writer, s.cq(), s.cq(), tag);
  }
};

using AsyncService = pb::Plugin::AsyncService;

struct InvokeMethod : AsyncMethod<pb::InvokeRequest, pb::InvokeResponse,
                                  &AsyncService::RequestInvoke, kInvokeSlots> {
  template <class Cancelled>
  static grpc::Status answer(PluginServer& s, grpc::ServerContext& ctx, Cancelled&& cancelled,
                             const Request& req, Response& resp) {
    return s.service().Invoke(ctx, std::forward<Cancelled>(cancelled), req, resp);
  }
};

struct DescribeMethod
    : AsyncMethod<pb::DescribeRequest, pb::DescribeResponse, &AsyncService::RequestDescribe, 1> {
  template <class Cancelled>
  static grpc::Status answer(PluginServer& s, grpc::ServerContext&, Cancelled&&, const Request& req,
                             Response& resp) {
    return s.service().Describe(req, resp);
  }
};

struct ShutdownMethod
    : AsyncMethod<pb::ShutdownRequest, pb::ShutdownResponse, &AsyncService::RequestShutdown, 1> {
  template <class Cancelled>
  static grpc::Status answer(PluginServer& s, grpc::ServerContext&, Cancelled&&, const Request& req,
                             Response&) {
    return s.service().Shutdown(req);
  }
};

struct InFlightMethod
    : AsyncMethod<pb::InFlightRequest, pb::InFlightResponse, &AsyncService::RequestInFlight, 1> {
  template <class Cancelled>
  static grpc::Status answer(PluginServer& s, grpc::ServerContext&, Cancelled&&, const Request&,
                             Response& resp) {
    return s.service().InFlight(resp);
  }
};

// One RPC of method M: waiting for a caller, answering, and gRPC's notice that the call is over
// (which makes IsCancelled() meaningful on the async API). Two tags, so the object goes when
// both are back: the answer's and the notice's.
template <class M>
class UnaryCall {
 public:
  explicit UnaryCall(PluginServer& server) : server_(server) {}
  UnaryCall(const UnaryCall&) = delete;
  UnaryCall& operator=(const UnaryCall&) = delete;

  // Waits for the next call of M.
  static void post(PluginServer& server) {
    auto call = std::make_unique<UnaryCall>(server);
    UnaryCall* c = call.get();
    c->ctx_.AsyncNotifyWhenDone(&c->done_tag_);
    plugvisor::tsan_handing_over(&c->main_);
    plugvisor::tsan_handing_over(&c->done_tag_);
    if (server.if_open(
            [&] { M::request(server, &c->ctx_, &c->req_, &c->responder_, &c->main_); })) {
      call.release();  // the queue owns it now
    }
  }

 private:
  struct MainTag final : QueueTag {
    explicit MainTag(UnaryCall& c) : call(c) {}
    void proceed(bool ok) noexcept override { call.on_main(ok); }
    UnaryCall& call;
  };
  struct DoneTag final : QueueTag {
    explicit DoneTag(UnaryCall& c) : call(c) {}
    void proceed(bool) noexcept override { call.on_done(); }
    UnaryCall& call;
  };

  void on_main(bool ok) noexcept {
    if (answering_) {
      server_.lifecycle().call_finished();
      release();
      return;
    }
    if (!ok) {
      // Never matched with a caller (the server is shutting down): gRPC sends no done notice.
      std::unique_ptr<UnaryCall> gone(this);
      return;
    }
    refs_.store(2, std::memory_order_relaxed);
    server_.lifecycle().call_started();
    post(server_);
    grpc::Status status;
    {
      ServingPool::InHandler busy(server_.pool());
      status = M::answer(
          server_, ctx_,
          [this] { return done_.load(std::memory_order_acquire) && ctx_.IsCancelled(); }, req_,
          resp_);
    }
    answering_ = true;
    // Once Finish is started, another serving thread may complete it and this call may go.
    plugvisor::tsan_handing_over(&main_);
    if (!server_.if_open([&] { responder_.Finish(resp_, status, &main_); })) {
      server_.lifecycle().call_finished();
      release();
    }
  }

  void on_done() noexcept {
    done_.store(true, std::memory_order_release);
    release();
  }

  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) std::unique_ptr<UnaryCall> gone(this);
  }

  PluginServer& server_;
  bool answering_ = false;
  std::atomic<int> refs_{0};
  std::atomic<bool> done_{false};
  grpc::ServerContext ctx_;
  typename M::Request req_;
  typename M::Response resp_;
  grpc::ServerAsyncResponseWriter<typename M::Response> responder_{&ctx_};
  MainTag main_{*this};
  DoneTag done_tag_{*this};
};

template <class M>
void post_slots(PluginServer& server) {
  for (int i = 0; i < M::kSlots; ++i) UnaryCall<M>::post(server);
}

}  // namespace

PluginServer::PluginServer(grpc::ServerBuilder& builder, PluginService& service,
                           Lifecycle& lifecycle)
    : service_(service), lifecycle_(lifecycle) {
  builder.RegisterService(&async_);
  cq_ = builder.AddCompletionQueue();
}

PluginServer::~PluginServer() { stop(); }

void PluginServer::start() {
  pool_ = std::make_unique<ServingPool>(*cq_, ServingPool::Options{});
  post_slots<InvokeMethod>(*this);
  post_slots<DescribeMethod>(*this);
  post_slots<ShutdownMethod>(*this);
  post_slots<InFlightMethod>(*this);
  pool_->start();
}

void PluginServer::stop() {
  if (!gate_.close()) return;
  cq_->Shutdown();
  if (pool_) {
    pool_->join();
  } else {
    // Never started: the queue must still be drained before it goes.
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) static_cast<QueueTag*>(tag)->proceed(ok);
  }
}

}  // namespace plugvisor::sdk::detail
