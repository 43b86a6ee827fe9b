// Plugin: the registry of a plugin's handlers, and the process-wide plugin behind define()/run().
#include "plugvisor/sdk/plugin.h"

#include <iostream>
#include <memory>
#include <stdexcept>

namespace plugvisor::sdk {

Plugin::Plugin(std::string id, std::string version)
    : id_(std::move(id)), version_(std::move(version)) {
  if (id_.empty()) throw std::invalid_argument("plugvisor sdk: a plugin needs a non-empty id");
}

Plugin::~Plugin() = default;

Plugin& Plugin::on(std::string hook, Handler handler, HookOptions options) {
  // Registration happens in main() before anything runs, so a mistake here should stop the
  // program at once with a message rather than surface later as a confusing handshake.
  if (hook.empty()) throw std::invalid_argument("plugvisor sdk: hook name must not be empty");
  if (!handler) throw std::invalid_argument("plugvisor sdk: empty handler for hook " + hook);
  if (find(hook) != nullptr) {
    throw std::logic_error("plugvisor sdk: plugin " + id_ + " registers hook " + hook + " twice");
  }
  registrations_.push_back({std::move(hook), std::move(handler), options});
  return *this;
}

Plugin& Plugin::on_configure(std::function<void(const Json& settings)> configure) {
  configure_ = std::move(configure);
  return *this;
}

const Plugin::Registration* Plugin::find(const std::string& hook) const {
  for (const auto& r : registrations_) {
    if (r.hook == hook) return &r;
  }
  return nullptr;
}

void Plugin::configure(const Json& settings) {
  // The callback sees the settings first, so a rejected configuration leaves no trace.
  if (configure_) configure_(settings);
  settings_ = settings;
}

State Plugin::own_state() const {
  // An empty token is the plugin's own behalf, and no invocation deadline applies.
  return State(host(), HostCall{});
}

Logger Plugin::log() const { return Logger(host(), HostCall{}); }

void Plugin::set_host(std::shared_ptr<HostApi> host) {
  std::lock_guard lock(host_mu_);
  host_ = std::move(host);
}

std::shared_ptr<HostApi> Plugin::host() const {
  std::lock_guard lock(host_mu_);
  return host_;
}

namespace {
std::unique_ptr<Plugin>& process_plugin() {
  static std::unique_ptr<Plugin> plugin;
  return plugin;
}
}  // namespace

Plugin& define(std::string id, std::string version) {
  auto& plugin = process_plugin();
  if (plugin) throw std::logic_error("plugvisor sdk: define() called twice");
  plugin = std::make_unique<Plugin>(std::move(id), std::move(version));
  return *plugin;
}

int run(int argc, char** argv) {
  auto& plugin = process_plugin();
  if (!plugin) {
    std::cerr << "plugvisor sdk: run() called before define(id, version)\n";
    return 2;
  }
  return plugin->run(argc, argv);
}

}  // namespace plugvisor::sdk
