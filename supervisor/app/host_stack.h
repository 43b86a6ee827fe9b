// The services behind host.v1, built from the config at start: the secret vault, the HTTP
// client, egress, the state store, the AI proxy and its usage store, and a sweeper that
// deletes expired state.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "host/ai/ai_proxy.h"
#include "host/ai/usage_store.h"
#include "host/egress/egress.h"
#include "host/egress/secrets.h"
#include "host/host_server.h"
#include "host/http/http_client.h"
#include "host/state/kv_store.h"

namespace plugvisor::app {

class HostStack {
 public:
  // Fails (naming the secret or file) when a secret or the AI key cannot be loaded: a
  // supervisor that would refuse every call that needs it should not start.
  static Result<std::unique_ptr<HostStack>> build(const config::SupervisorConfig& config,
                                                  const std::string& database_url);
  HostStack() = default;  // use build()
  ~HostStack();
  HostStack(const HostStack&) = delete;
  HostStack& operator=(const HostStack&) = delete;

  // The services for HostServer::configure; events, receipts and versions are the caller's.
  host::HostServices services(const std::vector<config::PluginConfig>& plugins) const;
  host::UsageStore* usage() const { return usage_.get(); }

 private:
  void sweep_expired_state();

  host::SecretVault secrets_;
  std::unique_ptr<host::HttpClient> http_;
  std::unique_ptr<host::Egress> egress_;
  std::unique_ptr<host::KvStore> state_;
  std::unique_ptr<host::AiProxy> ai_;
  std::unique_ptr<host::UsageStore> usage_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread sweeper_;
};

}  // namespace plugvisor::app
