#include "host/host_server.h"

#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

namespace plugvisor::host {

namespace v1 = plugvisor::host::v1;

HostServer::HostServer() {
  grpc::ServerBuilder builder;
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
}

HostServer::~HostServer() { shutdown(); }

void HostServer::shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_.reset();
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

grpc::Status HostServer::Log(grpc::ServerContext* ctx, const v1::LogRequest* req,
                             v1::LogResponse*) {
  auto plugin = caller(*ctx);
  if (!plugin) return {grpc::StatusCode::PERMISSION_DENIED, "unknown caller"};
  auto level = spdlog::level::from_str(req->level());
  if (level == spdlog::level::off) level = spdlog::level::info;
  spdlog::log(level, "plugin={} stream=host.log invocation={} | {}", *plugin, req->invocation_id(),
              req->message());
  return grpc::Status::OK;
}

}  // namespace plugvisor::host
