// HostServer: the gRPC plumbing, admission of a call (identity, token, scope) and the record of
// every refusal. The methods themselves are in host_calls.cc.
#include "host/host_server.h"

#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "events/event_log.h"
#include "host/egress/secrets.h"
#include "plugvisor/common/ids.h"

namespace plugvisor::host {

using hostcall::HostError;

namespace {

// How long a call made outside any invocation may take (state only).
constexpr std::chrono::seconds kOwnCallDeadline{10};

grpc::Status to_status(const HostError& e) {
  return {static_cast<grpc::StatusCode>(static_cast<int>(e.code)), e.message};
}

}  // namespace

HostServer::HostServer() {
  grpc::ServerBuilder builder;
  builder.RegisterService(this);
  // A sync-only server keeps threads of its own polling for I/O. Under epoll1 every poller in
  // the process handles every fd, so those threads would take turns with Dispatch's queue
  // threads at reading the hooks and plugin connections, and each turn costs a thread wake-up
  // on the hot path. A server that also has an async queue ("hybrid") leaves the polling to
  // the process's async threads (plugvisord's Dispatch queue); its handlers still run on their
  // own threads. plugvisord pins epoll1 (main.cc), where any poller reads any fd.
  unpolled_cq_ = builder.AddCompletionQueue(/*is_frequently_polled=*/true);
  server_ = builder.BuildAndStart();
}

HostServer::~HostServer() { shutdown(); }

void HostServer::configure(HostServices services) { services_ = std::move(services); }

void HostServer::shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_.reset();
  }
  if (unpolled_cq_) {
    // gRPC requires a queue to be shut down and drained before it is destroyed; nothing was
    // ever requested on this one, so only the shutdown event comes out.
    unpolled_cq_->Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (unpolled_cq_->Next(&tag, &ok)) {
    }
    unpolled_cq_.reset();
  }
}

void HostServer::attach(const std::string& plugin_id, UniqueFd fd) {
  {
    std::lock_guard lock(mu_);
    // An fd number is reused once gRPC closes the previous connection on it, so the newest
    // attachment is the only truthful one.
    plugin_by_peer_["fd:" + std::to_string(fd.get())] = plugin_id;
  }
  grpc::AddInsecureChannelFromFd(server_.get(), fd.release());
}

std::optional<std::string> HostServer::caller(const grpc::ServerContext& ctx) const {
  std::lock_guard lock(mu_);
  auto it = plugin_by_peer_.find(ctx.peer());
  if (it == plugin_by_peer_.end()) return std::nullopt;
  return it->second;
}

HostCounters HostServer::counters(const std::string& plugin_id) const {
  std::lock_guard lock(mu_);
  auto it = counters_.find(plugin_id);
  return it == counters_.end() ? HostCounters{} : it->second;
}

hostcall::HostResult<HostServer::Call> HostServer::admit(const grpc::ServerContext& ctx,
                                                         const std::string& method,
                                                         const std::string& token,
                                                         bool tenant_required,
                                                         bool finished_ok) {
  auto id = caller(ctx);
  if (!id) return hostcall::denied("identity", method, "the connection belongs to no plugin");
  Call call;
  call.method = method;
  if (services_.plugins != nullptr) {
    auto it = std::find_if(services_.plugins->begin(), services_.plugins->end(),
                           [&](const config::PluginConfig& p) { return p.id == *id; });
    if (it != services_.plugins->end()) call.plugin = &*it;
  }
  if (call.plugin == nullptr) return hostcall::denied("identity", method, "unknown plugin");
  auto scope = invocations_.resolve(*id, token, finished_ok);
  if (!scope) return scope.error();
  call.scope = std::move(*scope);
  if (tenant_required && !call.scope.in_invocation()) {
    return hostcall::denied("invocation_token", method,
                            "only Log and the plugin's own state are allowed outside an "
                            "invocation; pass the invocation's token");
  }
  if (call.scope.plugin_version.empty() && services_.plugin_version) {
    call.scope.plugin_version = services_.plugin_version(*id);
  }
  const auto now = std::chrono::steady_clock::now();
  // A finished invocation's Log (no deadline left to inherit) gets the plugin's own one.
  const bool inherits = call.scope.in_invocation() &&
                        call.scope.deadline != std::chrono::steady_clock::time_point::max();
  call.deadline = inherits ? call.scope.deadline : now + kOwnCallDeadline;
  // The plugin's own deadline for this call, if shorter, wins too.
  const auto client_deadline = ctx.deadline();
  if (client_deadline != std::chrono::system_clock::time_point::max()) {
    const auto left = client_deadline - std::chrono::system_clock::now();
    call.deadline = std::min(
        call.deadline, now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left));
  }
  if (call.deadline <= now) return hostcall::deadline("the invocation's deadline has passed");
  return call;
}

grpc::Status HostServer::finish(const grpc::ServerContext& ctx, const std::string& method,
                                const hostcall::HostResult<Call>& call,
                                const hostcall::HostStatus& outcome) {
  const HostError* error = !call ? &call.error() : !outcome ? &outcome.error() : nullptr;
  // A call refused at admission (a bad token) still has a known caller: its connection.
  std::string id = call ? call->scope.plugin_id : caller(ctx).value_or("");
  if (error == nullptr) {
    std::lock_guard lock(mu_);
    ++counters_[id].calls[method];
    return grpc::Status::OK;
  }
  if (error->code == hostcall::Code::permission_denied) {
    std::optional<Call> known;
    if (call) known = *call;
    record_denial(method, known, id, *error);
  }
  HostError shown = *error;
  if (services_.secrets != nullptr) shown.message = services_.secrets->scrub(shown.message);
  return to_status(shown);
}

void HostServer::record_denial(const std::string& method, const std::optional<Call>& call,
                               const std::string& caller_id, const HostError& error) {
  auto scrub = [&](std::string s) {
    return services_.secrets != nullptr ? services_.secrets->scrub(std::move(s)) : s;
  };
  const std::string plugin_id = call ? call->scope.plugin_id : caller_id;
  {
    std::lock_guard lock(mu_);
    ++counters_[plugin_id].permission_denied;
  }
  const std::string message = scrub(error.message);
  const std::string target = scrub(error.target);
  spdlog::warn("plugin={} host.{} PERMISSION_DENIED: {}", plugin_id.empty() ? "?" : plugin_id,
               method, message);
  if (services_.receipts != nullptr) {
    dispatch::Receipt r;
    r.plugin_id = plugin_id;
    r.hook = "host." + method;
    r.status = "denied";
    r.error = dispatch::ErrorCode::permission_denied;
    r.error_message = message;
    r.at_unix_ms = unix_millis();
    if (call) {
      r.dispatch_id = call->scope.dispatch_id;
      r.plugin_version = call->scope.plugin_version;
      r.tenant_id = call->scope.tenant_id;
      r.work_item_id = call->scope.work_item_id;
      r.run_id = call->scope.run_id;
    }
    services_.receipts->submit({std::move(r)});
  }
  if (services_.events != nullptr) {
    nlohmann::json detail = {{"method", method},
                             {"permission", error.permission},
                             {"target", target},
                             {"message", message}};
    if (call && call->scope.in_invocation()) {
      detail["invocation_id"] = call->scope.invocation_id;
      detail["dispatch_id"] = call->scope.dispatch_id;
      detail["hook"] = call->scope.hook;
      detail["tenant_id"] = call->scope.tenant_id;
    }
    services_.events->emit(plugin_id, "permission_denied", "", std::move(detail));
  }
}

bool HostServer::Bucket::take(std::chrono::steady_clock::time_point now, double rate,
                              double burst) {
  if (!started) {
    started = true;
    tokens = burst;
  } else {
    const double elapsed = std::chrono::duration<double>(now - refilled).count();
    tokens = std::min(burst, tokens + elapsed * rate);
  }
  refilled = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

bool HostServer::take_emit_token(const std::string& plugin_id) {
  const double rate = services_.emits_per_second;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  return emit_buckets_[plugin_id].take(now, rate, 2 * rate);
}

std::optional<uint64_t> HostServer::take_log_token(const std::string& plugin_id,
                                                   const config::LogLimits& limits) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  LogBucket& b = log_buckets_[plugin_id];
  if (!b.bucket.take(now, limits.lines_per_second, std::max<double>(limits.burst, 1))) {
    ++b.refused_unreported;
    return std::nullopt;
  }
  return std::exchange(b.refused_unreported, 0);
}

}  // namespace plugvisor::host
