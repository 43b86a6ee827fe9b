#pragma once

#include <optional>
#include <variant>
#include <string>

namespace plugvisor::app {

struct Options {
  std::string config_path;
  std::string database_url;  // overrides the config (also PLUGVISOR_DATABASE_URL)
  std::string state_dir;     // overrides the config (also PLUGVISOR_STATE_DIR)
  std::string listen;        // overrides the config (also PLUGVISOR_LISTEN)
  std::string log_level;     // overrides the config (also PLUGVISOR_LOG_LEVEL)
  bool check_config = false;
  bool check_sandbox = false;
};

// Parses argv; on --help/--version/usage errors returns the exit code to leave with.
std::variant<Options, int> parse_options(int argc, char** argv);

extern const char* const kVersion;

}  // namespace plugvisor::app
