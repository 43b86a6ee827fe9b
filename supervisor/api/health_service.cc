#include "api/health_service.h"

#include <chrono>

namespace plugvisor::api {

namespace hv = grpc::health::v1;

void HealthService::set_serving(const std::string& service, bool serving) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) serving = false;
    auto [it, fresh] = serving_.try_emplace(service, serving);
    if (!fresh && it->second == serving) return;
    it->second = serving;
    ++version_;
  }
  changed_.notify_all();
}

void HealthService::shut_down() {
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    for (auto& [name, serving] : serving_) serving = false;
    ++version_;
  }
  changed_.notify_all();
}

HealthService::Serving HealthService::status_locked(const std::string& service) const {
  auto it = serving_.find(service);
  if (it == serving_.end()) return hv::HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? hv::HealthCheckResponse::SERVING : hv::HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext*, const hv::HealthCheckRequest* req,
                                  hv::HealthCheckResponse* resp) {
  std::lock_guard lock(mu_);
  const Serving s = status_locked(req->service());
  if (s == hv::HealthCheckResponse::SERVICE_UNKNOWN) {
    return {grpc::StatusCode::NOT_FOUND, "unknown service '" + req->service() + "'"};
  }
  resp->set_status(s);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* ctx, const hv::HealthCheckRequest* req,
                                  grpc::ServerWriter<hv::HealthCheckResponse>* writer) {
  std::unique_lock lock(mu_);
  std::optional<Serving> sent;
  while (!ctx->IsCancelled()) {
    const Serving now = status_locked(req->service());
    if (!sent || *sent != now) {
      hv::HealthCheckResponse resp;
      resp.set_status(now);
      lock.unlock();
      if (!writer->Write(resp)) return grpc::Status::OK;  // the watcher went away
      lock.lock();
      sent = now;
      continue;  // it may have changed while we wrote
    }
    if (shut_down_) break;
    // A sync handler cannot be woken by a cancellation, so look at it now and then.
    const uint64_t seen = version_;
    changed_.wait_for(lock, std::chrono::seconds(1), [&] { return version_ != seen; });
  }
  return grpc::Status::OK;
}

}  // namespace plugvisor::api
