// Spawn-to-ready: from posix_spawn of a plugin process to its first answered call, with the fds
// set up as plugvisord sets them up (see child.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::bench {

struct SpawnTarget {
  std::string name;
  std::vector<std::string> argv;
  // Describe (what plugvisord waits for before a plugin is ready) or, for the raw echo server,
  // Invoke (its first answer).
  bool first_call_is_describe = true;
};

struct SpawnSamples {
  std::vector<int64_t> baseline_ns;
  std::vector<int64_t> plugin_ns;
};

// `samples` spawns of each target, alternating between them so that both see the same machine
// load, after one unrecorded warm-up spawn of each (it pulls the binaries into the page cache).
// Each process is shut down and reaped before the next is spawned; child output goes to
// `log_path`.
Result<SpawnSamples> measure_spawn(const SpawnTarget& baseline, const SpawnTarget& plugin,
                                   int samples, const std::string& log_path);

}  // namespace plugvisor::bench
