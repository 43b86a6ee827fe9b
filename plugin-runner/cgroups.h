// Outside the sandbox, before clone: joining the cgroups plugvisord prepared for this plugin.
#pragma once

#include <string>
#include <vector>

namespace plugvisor::runner {

// Writes our pid to every cgroup.procs file (v1 controllers or a v2 group). The init and the
// plugin inherit the membership, and the cgroup namespace created afterwards is rooted there.
// Fails with step "cgroup_join".
void join_cgroups(const std::vector<std::string>& procs_files);

}  // namespace plugvisor::runner
