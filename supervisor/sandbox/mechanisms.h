#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "plugvisor/common/result.h"

namespace plugvisor::sandbox {

struct CgroupController {
  int version = 0;   // 0: not available, 1 or 2
  std::string path;  // where this controller's hierarchy is mounted
};

struct Mechanisms {
  std::map<std::string, bool> available;  // by config::all_sandbox_mechanisms() name
  std::map<std::string, std::string> detail;
  CgroupController memory, pids, cpu;
  int landlock_abi = 0;
  nlohmann::json raw;  // the runner's probe, as printed

  bool has(const std::string& name) const;
  // Required mechanisms this machine lacks.
  std::vector<std::string> missing(const std::vector<std::string>& required) const;
  std::string table() const;  // one line per mechanism, for logs and --check-sandbox
};

// Parses `plugvisor-runner --probe` output.
Result<Mechanisms> parse_probe(const std::string& json_text);

}  // namespace plugvisor::sandbox
