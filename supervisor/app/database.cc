#include "app/database.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "store/connection.h"

namespace plugvisor::app {

namespace fs = std::filesystem;

Result<std::string> prepare_state_dir(const std::string& configured) {
  std::string dir = configured;
  if (dir.empty()) {
    if (geteuid() == 0) {
      dir = "/var/lib/plugvisor";
    } else if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) {
      dir = std::string(xdg) + "/plugvisor";
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      dir = std::string(home) + "/.local/state/plugvisor";
    } else {
      return Error{"no state directory: set state_dir in the config or PLUGVISOR_STATE_DIR"};
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{"state directory " + dir + ": " + ec.message()};
  // The embedded cluster runs as another user when we are root and must reach its data dir.
  ::chmod(dir.c_str(), 0755);
  return fs::absolute(dir).string();
}

Result<Database> open_database(const config::SupervisorConfig& config, const std::string& state_dir,
                               process::Reaper& reaper) {
  Database db;
  if (!config.database.url.empty()) {
    db.url = config.database.url;
    db.description = store::redact_url(db.url);
    return db;
  }
  store::EmbeddedPostgresOptions options;
  options.data_dir = state_dir + "/postgres";
  options.run_as_user = config.database.embedded_user;
  options.bindir = config.database.pg_bindir;
  options.run = [&reaper](const std::vector<std::string>& argv) { return reaper.run(argv); };
  spdlog::info("no database URL: starting the embedded PostgreSQL cluster in {}", options.data_dir);
  auto pg = store::EmbeddedPostgres::start(std::move(options));
  if (!pg) return Error{"embedded database: " + pg.error().message};
  db.url = (*pg)->url();
  db.description = "embedded (" + state_dir + "/postgres)";
  db.embedded = std::move(*pg);
  return db;
}

}  // namespace plugvisor::app
