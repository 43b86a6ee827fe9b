#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sandbox/cgroup.h"

namespace plugvisor::sandbox {

// Why a plugin died, for its `exit` event: {"reason": oom | pids_limit | cpu_limit | seccomp |
// signal | exit_code, ...}. `runner_report` is the runner's {"exit": {...}} status line (or
// null), `before`/`after` the cgroup counters at spawn and at death.
nlohmann::json classify_death(int wait_status, const nlohmann::json& runner_report,
                              const CgroupCounters& before, const CgroupCounters& after);

}  // namespace plugvisor::sandbox
