// A plugvisord with plugvisor-fixture-host plugins for the host-services contract tests: the
// config (permissions per plugin, secrets from the environment, an AI upstream), and running a
// list of host calls inside one invocation of one plugin.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "supervisor_harness.h"

namespace plugvisor::testsupport {

using Json = nlohmann::json;

struct HostPlugin {
  std::string id;
  std::string hook;  // the one hook it is bound to; each plugin gets its own
  std::string permissions_yaml;  // the body of "permissions:", indented 6 spaces; may be empty
};

// fast_defaults_yaml() plus `top_yaml` (secrets:, ai:, fetch: ...) plus the plugins, each a
// plugvisor-fixture-host with a 20 s hook timeout (host calls go to real servers on a machine
// that may be loaded).
std::string host_config(const std::vector<HostPlugin>& plugins, const std::string& top_yaml = "");

struct HostRun {
  hv1::DispatchResponse response;
  Json results;  // metadata.host_results: one outcome object per op
};

// Dispatches `hook` with data {"_host": ops} for `tenant` and returns the plugin's outcomes.
// FAILs if the dispatch fails or the plugin did not answer.
HostRun run_host_ops(Supervisor& sup, const std::string& hook, const std::vector<Json>& ops,
                     const std::string& tenant = "tenant-a");

// Every row of `table` as text (row_to_json), for searching the database for a value.
std::vector<std::string> table_rows(const std::string& database_url, const std::string& table);

}  // namespace plugvisor::testsupport
