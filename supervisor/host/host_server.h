#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "plugvisor/common/unique_fd.h"
#include "plugvisor/host/v1/host.grpc.pb.h"

namespace plugvisor::host {

class HostServer final : public plugvisor::host::v1::Host::Service {
 public:
  HostServer();
  ~HostServer() override;

  // Serves host.v1 to `plugin_id` over `fd` (the supervisor's end of its fd-4 socketpair).
  void attach(const std::string& plugin_id, UniqueFd fd);
  // The plugin behind a call, from ServerContext::peer(); nullopt for unknown peers.
  std::optional<std::string> caller(const grpc::ServerContext& ctx) const;
  void shutdown();

  grpc::Status Log(grpc::ServerContext* ctx, const plugvisor::host::v1::LogRequest* req,
                   plugvisor::host::v1::LogResponse* resp) override;

 private:
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> plugin_by_peer_;  // "fd:N" -> plugin id
};

}  // namespace plugvisor::host
