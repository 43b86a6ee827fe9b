#include "cgroups.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "plugvisor/common/unique_fd.h"
#include "status.h"

namespace plugvisor::runner {

void join_cgroups(const std::vector<std::string>& procs_files) {
  const std::string pid = std::to_string(::getpid()) + "\n";
  for (const auto& file : procs_files) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) fail("cgroup_join", errno, file);
    if (::write(fd.get(), pid.data(), pid.size()) < 0) fail("cgroup_join", errno, file);
  }
}

}  // namespace plugvisor::runner
