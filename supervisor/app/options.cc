#include "app/options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

namespace plugvisor::app {

const char* const kVersion = PLUGVISOR_VERSION;

std::variant<Options, int> parse_options(int argc, char** argv) {
  Options o;
  CLI::App cli{"plugvisord: runs plugins as sandboxed child processes and dispatches hooks to them"};
  cli.set_version_flag("--version", std::string("plugvisord ") + kVersion);
  cli.add_option("-c,--config", o.config_path, "YAML config file")
      ->envname("PLUGVISOR_CONFIG")
      ->required();
  cli.add_option("--database-url", o.database_url,
                 "PostgreSQL URL; without one plugvisord runs its own cluster in the state dir")
      ->envname("PLUGVISOR_DATABASE_URL");
  cli.add_option("--state-dir", o.state_dir, "where the embedded database and runtime files live")
      ->envname("PLUGVISOR_STATE_DIR");
  cli.add_option("--listen", o.listen, "host:port or unix:/path for the hooks and admin APIs")
      ->envname("PLUGVISOR_LISTEN");
  cli.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
      ->envname("PLUGVISOR_LOG_LEVEL");
  cli.add_flag("--check-config", o.check_config, "validate the config and exit");
  cli.add_flag("--check-sandbox", o.check_sandbox,
               "show which sandbox mechanisms this machine offers and exit (1 if a required one "
               "is missing)");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  return o;
}

}  // namespace plugvisor::app
