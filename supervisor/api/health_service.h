// grpc.health.v1 for plugvisord, as a synchronous service. gRPC's built-in one is written with
// the callback API, and on this platform's poller (epoll1) the first use of that API starts
// gRPC's "callback alternative" completion-queue threads, which then take part in polling every
// fd: measured, they were the largest single cost on the dispatch path. plugvisord uses no
// callback API at all.
//
// Names: "" is the daemon; "plugvisor.plugin.<id>" is SERVING only while that plugin is ready.
#pragma once

#include <condition_variable>
#include <map>
#include <optional>
#include <mutex>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"

namespace plugvisor::api {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  void set_serving(const std::string& service, bool serving);
  // Every name NOT_SERVING from now on, and watchers released (at shutdown).
  void shut_down();

  grpc::Status Check(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest* req,
                     grpc::health::v1::HealthCheckResponse* resp) override;
  grpc::Status Watch(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest* req,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  using Serving = grpc::health::v1::HealthCheckResponse::ServingStatus;
  Serving status_locked(const std::string& service) const;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, bool> serving_;
  uint64_t version_ = 0;  // bumped on every change, so a watcher can tell it missed nothing
  bool shut_down_ = false;
};

}  // namespace plugvisor::api
