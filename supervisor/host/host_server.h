// The host.v1 server plugins call on fd 4. Every call is admitted the same way: the caller is
// the plugin its fd was given to; the invocation token (if any) must be one issued to that
// plugin and still in flight, and gives the tenant, work item and run; then the service behind
// the method checks the plugin's permissions. Every refusal is answered PERMISSION_DENIED and
// recorded as a receipt, a permission_denied event and a counter.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.h"
#include "dispatch/types.h"
#include "host/invocations.h"
#include "plugvisor/common/host_error.h"
#include "plugvisor/common/unique_fd.h"
#include "plugvisor/host/v1/host.grpc.pb.h"

namespace plugvisor::events {
class EventLog;
}

namespace plugvisor::host {

class KvStore;
class Egress;
class AiProxy;
class UsageStore;
class SecretVault;

// What the server needs besides the call. Any service pointer may be null: its methods then
// answer UNAVAILABLE.
struct HostServices {
  const std::vector<config::PluginConfig>* plugins = nullptr;
  std::function<std::string(const std::string& plugin_id)> plugin_version;
  KvStore* state = nullptr;
  const Egress* egress = nullptr;
  const AiProxy* ai = nullptr;
  UsageStore* usage = nullptr;
  const SecretVault* secrets = nullptr;  // scrubs everything recorded about a call
  events::EventLog* events = nullptr;
  dispatch::ReceiptSink* receipts = nullptr;
  uint32_t emits_per_second = 100;  // per plugin, with a burst of twice that
};

struct HostCounters {
  uint64_t permission_denied = 0;
  std::map<std::string, uint64_t> calls;  // answered calls by method
};

class HostServer final : public plugvisor::host::v1::Host::Service {
 public:
  HostServer();
  ~HostServer() override;

  // Before the first plugin starts.
  void configure(HostServices services);
  InvocationRegistry& invocations() { return invocations_; }

  // Serves host.v1 to `plugin_id` over `fd` (the supervisor's end of its fd-4 socketpair).
  void attach(const std::string& plugin_id, UniqueFd fd);
  // The plugin behind a call, from ServerContext::peer(); nullopt for unknown peers.
  std::optional<std::string> caller(const grpc::ServerContext& ctx) const;
  HostCounters counters(const std::string& plugin_id) const;
  void shutdown();

  grpc::Status Log(grpc::ServerContext* ctx, const v1::LogRequest* req,
                   v1::LogResponse* resp) override;
  grpc::Status StateGet(grpc::ServerContext* ctx, const v1::StateGetRequest* req,
                        v1::StateGetResponse* resp) override;
  grpc::Status StatePut(grpc::ServerContext* ctx, const v1::StatePutRequest* req,
                        v1::StatePutResponse* resp) override;
  grpc::Status StateDelete(grpc::ServerContext* ctx, const v1::StateDeleteRequest* req,
                           v1::StateDeleteResponse* resp) override;
  grpc::Status StateList(grpc::ServerContext* ctx, const v1::StateListRequest* req,
                         v1::StateListResponse* resp) override;
  grpc::Status Fetch(grpc::ServerContext* ctx, const v1::FetchRequest* req,
                     v1::FetchResponse* resp) override;
  grpc::Status AiChat(grpc::ServerContext* ctx, const v1::AiChatRequest* req,
                      v1::AiChatResponse* resp) override;
  grpc::Status Emit(grpc::ServerContext* ctx, const v1::EmitRequest* req,
                    v1::EmitResponse* resp) override;

 private:
  // An admitted call: who, for which invocation, under which permissions.
  struct Call {
    std::string method;
    const config::PluginConfig* plugin = nullptr;
    CallScope scope;
    std::chrono::steady_clock::time_point deadline;
  };
  // `tenant_required`: the method acts for a tenant or the outside world, so it needs a token.
  hostcall::HostResult<Call> admit(const grpc::ServerContext& ctx, const std::string& method,
                                   const std::string& token, bool tenant_required,
                                   bool finished_ok = false);
  // Counts the call and turns an outcome into the answer; a denial is also recorded.
  grpc::Status finish(const grpc::ServerContext& ctx, const std::string& method,
                      const hostcall::HostResult<Call>& call, const hostcall::HostStatus& outcome);
  void record_denial(const std::string& method, const std::optional<Call>& call,
                     const std::string& caller_id, const hostcall::HostError& error);
  bool take_emit_token(const std::string& plugin_id);
  // The Log rate limit, per plugin, with the limits of its stderr capture (logs:). Returns how
  // many lines were refused since the last one let through, or nullopt if this one is refused.
  std::optional<uint64_t> take_log_token(const std::string& plugin_id,
                                         const config::LogLimits& limits);

  // Never read: its presence makes this a "hybrid" server, whose sync handlers take requests
  // from gRPC without polling threads of their own (see the constructor).
  std::unique_ptr<grpc::ServerCompletionQueue> unpolled_cq_;
  std::unique_ptr<grpc::Server> server_;
  HostServices services_;
  InvocationRegistry invocations_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> plugin_by_peer_;  // "fd:N" -> plugin id
  std::map<std::string, HostCounters> counters_;
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
    bool started = false;
    // Refills at `rate` per second up to `burst` (full at first), then takes one if it can.
    bool take(std::chrono::steady_clock::time_point now, double rate, double burst);
  };
  std::map<std::string, Bucket> emit_buckets_;
  struct LogBucket {
    Bucket bucket;
    uint64_t refused_unreported = 0;
  };
  std::map<std::string, LogBucket> log_buckets_;
};

}  // namespace plugvisor::host
