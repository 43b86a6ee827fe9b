#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "plugvisor/common/result.h"
#include "process/reaper.h"
#include "store/embedded_postgres.h"

namespace plugvisor::app {

struct Database {
  std::string url;
  std::string description;  // for status: "embedded (<dir>)" or the redacted URL
  std::unique_ptr<store::EmbeddedPostgres> embedded;  // null for an external database
};

// An external URL if one is configured, else the embedded cluster under <state_dir>/postgres.
// Child processes (initdb, pg_ctl) go through the reaper, the only caller of wait().
Result<Database> open_database(const config::SupervisorConfig& config, const std::string& state_dir,
                               process::Reaper& reaper);

// The state directory: the configured one, else /var/lib/plugvisor as root, else
// $XDG_STATE_HOME/plugvisor (~/.local/state/plugvisor). Created if missing.
Result<std::string> prepare_state_dir(const std::string& configured);

}  // namespace plugvisor::app
