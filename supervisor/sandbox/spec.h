#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "sandbox/mechanisms.h"

namespace plugvisor::sandbox {

struct SpecInputs {
  const config::PluginConfig& plugin;
  const Mechanisms& mechanisms;
  uint32_t host_uid;
  std::string data_dir;  // host path, created and owned by host_uid
  std::vector<std::string> cgroup_procs;
  std::vector<std::string> env;       // NAME=value, already scrubbed
  std::string netns;                  // a network namespace to join instead of a new one; "": none
  bool log_landlock_denials = false;  // kernel_audit.h: landlock_denials_loggable()
};

// The runner's spec (plugin-runner/SPEC.md) for one plugin incarnation.
nlohmann::json build_spec(const SpecInputs& in);

}  // namespace plugvisor::sandbox
