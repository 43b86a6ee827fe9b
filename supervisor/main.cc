// plugvisord: the plugin supervisor daemon. See app/README.md for what starts in which order.
#include <absl/synchronization/mutex.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "app/options.h"
#include "app/supervisor.h"
#include "config/config.h"

int main(int argc, char** argv) {
  using namespace plugvisor;
  // Before anything starts gRPC. The servers other than Dispatch's leave their I/O to the
  // Dispatch queue's threads (host/host_server.cc), which reach every connection only under
  // epoll1, where all pollers share one epoll set. It is gRPC's default on Linux; this makes
  // sure an inherited GRPC_POLL_STRATEGY cannot leave the plugins' host connections unpolled.
  ::setenv("GRPC_POLL_STRATEGY", "epoll1", /*overwrite=*/1);
  // Debian builds Abseil without NDEBUG, so every absl::Mutex (gRPC creates and destroys several
  // per call) would also be entered in and removed from a process-wide lock-order graph behind a
  // global lock: 2-3 % of plugvisord's time on the Dispatch path. Our locks are std::mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto parsed = app::parse_options(argc, argv);
  if (std::holds_alternative<int>(parsed)) return std::get<int>(parsed);
  auto& options = std::get<app::Options>(parsed);

  auto config = config::load_config(options.config_path);
  if (!config) {
    std::cerr << "plugvisord: " << config.error().message << "\n";
    return 2;
  }
  if (!options.database_url.empty()) config->database.url = options.database_url;
  if (!options.state_dir.empty()) config->state_dir = options.state_dir;
  if (!options.listen.empty()) config->listen = options.listen;
  if (!options.log_level.empty()) config->log_level = options.log_level;
  if (options.check_config) {
    std::cout << "plugvisord: " << options.config_path << " is valid (" << config->plugins.size()
              << " plugins)\n";
    return 0;
  }

  if (options.check_sandbox) return app::check_sandbox(std::move(*config));

  auto logger = spdlog::stderr_color_mt("plugvisord");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  spdlog::set_default_logger(logger);
  auto level = spdlog::level::from_str(config->log_level);
  spdlog::set_level(level == spdlog::level::off ? spdlog::level::info : level);
  spdlog::flush_on(spdlog::level::info);

  try {
    return app::run_supervisor(std::move(*config));
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return 1;
  }
}
