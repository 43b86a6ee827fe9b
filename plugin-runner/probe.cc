#include "probe.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "landlock.h"
#include "namespaces.h"

namespace plugvisor::runner {

namespace {

using Json = nlohmann::json;

// Whether clone(2) with this one namespace flag works here, right now (a kernel may have the
// namespace compiled in and still refuse it: sysctls, seccomp, being in a container).
bool can_clone(int flag) {
  const pid_t pid = clone_process(flag);
  if (pid < 0) return false;
  if (pid == 0) std::_Exit(0);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool seccomp_action_available(uint32_t action) {
  return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

// From /proc/self/mountinfo: where each cgroup v1 controller is mounted, and the first
// cgroup2 mount (with the controllers enabled at its root).
Json cgroups(std::string& v2_path) {
  Json v1 = Json::object();
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::istringstream in(line);
    std::string id, parent, devno, root, mount_point, field;
    in >> id >> parent >> devno >> root >> mount_point;
    while (in >> field && field != "-") {
    }
    std::string fstype, source, options;
    in >> fstype >> source >> options;
    if (fstype == "cgroup2" && v2_path.empty()) v2_path = mount_point;
    if (fstype != "cgroup") continue;
    std::istringstream opts(options);
    std::string opt;
    while (std::getline(opts, opt, ',')) {
      if (!v1.contains(opt)) v1[opt] = mount_point;
    }
  }
  std::string v2_controllers;
  if (!v2_path.empty())
    std::getline(std::ifstream(v2_path + "/cgroup.controllers"), v2_controllers);

  Json out = Json::object();
  for (const char* controller : {"memory", "pids", "cpu"}) {
    Json c = {{"v1", nullptr}, {"v2", nullptr}};
    if (v1.contains(controller)) c["v1"] = v1[controller];
    std::istringstream words(v2_controllers);
    std::string word;
    while (words >> word) {
      if (word == controller) c["v2"] = v2_path;
    }
    out[controller] = c;
  }
  return out;
}

}  // namespace

int run_probe() {
  Json report;
  report["root"] = ::geteuid() == 0;
  utsname u{};
  if (::uname(&u) == 0) report["kernel"] = u.release;

  Json ns = Json::object();
  const std::pair<const char*, int> flags[] = {{"user", CLONE_NEWUSER},    {"pid", CLONE_NEWPID},
                                               {"mount", CLONE_NEWNS},     {"net", CLONE_NEWNET},
                                               {"ipc", CLONE_NEWIPC},      {"uts", CLONE_NEWUTS},
                                               {"cgroup", CLONE_NEWCGROUP}};
  std::fflush(nullptr);
  for (const auto& [name, flag] : flags) ns[name] = can_clone(flag);
  report["namespaces"] = ns;

  report["landlock_abi"] = landlock_abi();
  // PR_GET_SECCOMP fails with EINVAL when the kernel has no seccomp at all.
  const bool seccomp = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
                       seccomp_action_available(SECCOMP_RET_KILL_PROCESS);
  report["seccomp"] = {{"filter", seccomp},
                       {"user_notif", seccomp && seccomp_action_available(SECCOMP_RET_USER_NOTIF)}};
  report["no_new_privs"] = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) >= 0;
  std::string v2_path;
  report["cgroups"] = cgroups(v2_path);
  report["cgroup2_mount"] = v2_path.empty() ? Json(nullptr) : Json(v2_path);

  std::printf("%s\n", report.dump().c_str());
  return 0;
}

}  // namespace plugvisor::runner
