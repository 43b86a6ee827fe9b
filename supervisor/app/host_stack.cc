#include "app/host_stack.h"

#include <spdlog/spdlog.h>

namespace plugvisor::app {

namespace {

constexpr std::chrono::seconds kSweepEvery{60};

Result<std::string> load_api_key(const config::AiUpstreamConfig& ai) {
  if (ai.api_key_env.empty() && ai.api_key_file.empty()) {
    return std::string();  // an upstream without a key (a local model server)
  }
  return host::read_secret("ai.api_key", config::SecretSource{ai.api_key_env, ai.api_key_file});
}

}  // namespace

Result<std::unique_ptr<HostStack>> HostStack::build(const config::SupervisorConfig& config,
                                                    const std::string& database_url) {
  auto stack = std::make_unique<HostStack>();
  auto vault = host::SecretVault::load(config.secrets);
  if (!vault) return Error{"secrets: " + vault.error().message};
  stack->secrets_ = std::move(*vault);
  auto key = load_api_key(config.ai);
  if (!key) return key.error();
  if (!key->empty()) stack->secrets_.add_hidden("ai_api_key", *key);

  stack->http_ = host::make_curl_client();
  stack->egress_ = std::make_unique<host::Egress>(*stack->http_, stack->secrets_, config.fetch);
  stack->state_ = host::make_pg_kv_store(database_url);
  stack->usage_ = std::make_unique<host::UsageStore>(database_url);
  if (!config.ai.base_url.empty()) {
    stack->ai_ = std::make_unique<host::AiProxy>(*stack->http_, stack->secrets_, config.ai, *key);
  }
  stack->sweeper_ = std::thread([s = stack.get()] { s->sweep_expired_state(); });
  return stack;
}

HostStack::~HostStack() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

host::HostServices HostStack::services(const std::vector<config::PluginConfig>& plugins) const {
  host::HostServices s;
  s.plugins = &plugins;
  s.state = state_.get();
  s.egress = egress_.get();
  s.ai = ai_.get();
  s.usage = usage_.get();
  s.secrets = &secrets_;
  return s;
}

void HostStack::sweep_expired_state() {
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, kSweepEvery, [this] { return stopping_; })) {
    lock.unlock();
    // Expired rows are already invisible; this only gives their space back.
    if (auto n = state_->purge_expired(); !n) {
      spdlog::warn("state: deleting expired keys failed: {}", n.error().message);
    } else if (*n > 0) {
      spdlog::debug("state: deleted {} expired keys", *n);
    }
    lock.lock();
  }
}

}  // namespace plugvisor::app
