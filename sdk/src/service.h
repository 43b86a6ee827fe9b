// PluginService: plugin.v1 served for one sdk::Plugin. Every method catches everything: an
// exception must never unwind into gRPC's threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "lifecycle.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"
#include "plugvisor/sdk/plugin.h"

namespace plugvisor::sdk::detail {

namespace pb = ::plugvisor::plugin::v1;

// The protocol versions this SDK speaks.
inline constexpr uint32_t kProtocolVersions[] = {1};
// How long in-flight handlers get after SIGTERM, or a Shutdown without grace_ms.
inline constexpr std::chrono::milliseconds kDefaultGrace{5000};

// The deadline a handler sees: the gRPC deadline (system clock) moved onto the steady clock,
// tightened by the request's timeout_ms when that is set (0 means none).
std::chrono::steady_clock::time_point handler_deadline(
    std::chrono::system_clock::time_point grpc_deadline, uint32_t timeout_ms,
    std::chrono::system_clock::time_point system_now,
    std::chrono::steady_clock::time_point steady_now);

// The answers to plugin.v1's methods; PluginServer (plugin_server.h) carries them over gRPC.
class PluginService {
 public:
  PluginService(Plugin& plugin, Lifecycle& lifecycle) : plugin_(plugin), lifecycle_(lifecycle) {}

  grpc::Status Describe(const pb::DescribeRequest& request, pb::DescribeResponse& response);
  // `cancelled`: whether the caller gave up on the call (its deadline is in `context`).
  grpc::Status Invoke(const grpc::ServerContext& context, std::function<bool()> cancelled,
                      const pb::InvokeRequest& request, pb::InvokeResponse& response);
  grpc::Status Shutdown(const pb::ShutdownRequest& request);
  grpc::Status InFlight(pb::InFlightResponse& response);

 private:
  grpc::Status describe(const pb::DescribeRequest& request, pb::DescribeResponse& response);
  grpc::Status invoke(const grpc::ServerContext& context, std::function<bool()> cancelled,
                      const pb::InvokeRequest& request, pb::InvokeResponse& response);

  Plugin& plugin_;
  Lifecycle& lifecycle_;
  std::mutex configure_mu_;
  // The settings the plugin was configured with; set once, by the first good Describe.
  std::optional<Json> configured_settings_;
  // Written once under configure_mu_; read by every Invoke without the lock.
  std::atomic<bool> configured_{false};
};

}  // namespace plugvisor::sdk::detail
