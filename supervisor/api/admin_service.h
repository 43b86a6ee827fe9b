#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "events/event_log.h"
#include "plugvisor/admin/v1/admin.grpc.pb.h"
#include "process/plugin_manager.h"
#include "sandbox/landlock_audit.h"
#include "sandbox/plan.h"
#include "store/receipt_writer.h"

namespace plugvisor::host {
class HostServer;
class UsageStore;
}  // namespace plugvisor::host
#include "store/state_store.h"

namespace plugvisor::api {

struct AdminDeps {
  boost::asio::io_context& io;  // lifecycle actions run there
  process::PluginManager& plugins;
  store::StateStore& store;
  store::ReceiptWriter& receipts;
  events::EventLog& events;
  std::string version;
  std::string database;  // "embedded (<dir>)" or the redacted URL
  std::chrono::steady_clock::time_point started_at;
  const std::atomic<bool>& shutting_down;
  const sandbox::SandboxContext& sandbox;
  const host::HostServer* host = nullptr;  // host.v1 counters in each plugin's status
  host::UsageStore* usage = nullptr;       // AI token usage (Usage)
  const sandbox::LandlockAuditWatch* landlock_audit = nullptr;  // for Doctor
};

class AdminService final : public plugvisor::admin::v1::Admin::Service {
 public:
  explicit AdminService(AdminDeps deps) : deps_(std::move(deps)) {}

  grpc::Status ListPlugins(grpc::ServerContext*, const plugvisor::admin::v1::ListPluginsRequest*,
                           plugvisor::admin::v1::ListPluginsResponse*) override;
  grpc::Status GetPlugin(grpc::ServerContext*, const plugvisor::admin::v1::PluginRequest*,
                         plugvisor::admin::v1::PluginResponse*) override;
  grpc::Status Enable(grpc::ServerContext*, const plugvisor::admin::v1::PluginRequest*,
                      plugvisor::admin::v1::PluginResponse*) override;
  grpc::Status Disable(grpc::ServerContext*, const plugvisor::admin::v1::PluginRequest*,
                       plugvisor::admin::v1::PluginResponse*) override;
  grpc::Status Restart(grpc::ServerContext*, const plugvisor::admin::v1::PluginRequest*,
                       plugvisor::admin::v1::PluginResponse*) override;
  grpc::Status WatchEvents(grpc::ServerContext*, const plugvisor::admin::v1::WatchEventsRequest*,
                           grpc::ServerWriter<plugvisor::admin::v1::Event>*) override;
  grpc::Status ListReceipts(grpc::ServerContext*, const plugvisor::admin::v1::ListReceiptsRequest*,
                            plugvisor::admin::v1::ListReceiptsResponse*) override;
  grpc::Status Doctor(grpc::ServerContext*, const plugvisor::admin::v1::DoctorRequest*,
                      plugvisor::admin::v1::DoctorResponse*) override;
  grpc::Status Usage(grpc::ServerContext*, const plugvisor::admin::v1::UsageRequest*,
                     plugvisor::admin::v1::UsageResponse*) override;

 private:
  // The snapshot plus the host's counters for the plugin.
  void fill(const process::PluginSnapshot& s, plugvisor::admin::v1::PluginStatus* out) const;

  // Runs `action` on the Asio loop (where lifecycle state lives) and waits for its Status.
  grpc::Status lifecycle(const std::string& id, const char* what,
                         std::function<Status(process::PluginRuntime&)> action,
                         plugvisor::admin::v1::PluginResponse* resp);

  AdminDeps deps_;
};

}  // namespace plugvisor::api
