#include "sandbox/death.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

namespace plugvisor::sandbox {

nlohmann::json classify_death(int wait_status, const nlohmann::json& runner_report,
                              const CgroupCounters& before, const CgroupCounters& after) {
  nlohmann::json d = nlohmann::json::object();
  int code = -1, sig = 0;
  // The runner reports how the plugin inside ended; the wait status is the runner's own.
  if (runner_report.is_object()) {
    code = runner_report.value("code", -1);
    sig = runner_report.value("signal", 0);
    if (runner_report.contains("syscall")) d["syscall"] = runner_report["syscall"];
    if (runner_report.contains("syscall_name")) d["syscall"] = runner_report["syscall_name"];
  } else if (WIFEXITED(wait_status)) {
    code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    sig = WTERMSIG(wait_status);
  }
  if (sig != 0) {
    d["signal"] = sig;
    const char* abbrev = sigabbrev_np(sig);
    d["signal_name"] = std::string("SIG") + (abbrev ? abbrev : "?");
  } else if (code >= 0) {
    d["exit_code"] = code;
  }

  if (after.oom_kills > before.oom_kills) {
    d["reason"] = "oom";
  } else if (sig == SIGSYS) {
    d["reason"] = "seccomp";
  } else if (sig == SIGXCPU) {
    d["reason"] = "cpu_limit";
  } else if (after.pids_max_hits > before.pids_max_hits && (sig != 0 || code != 0)) {
    d["reason"] = "pids_limit";
  } else if (sig != 0) {
    d["reason"] = "signal";
  } else {
    d["reason"] = "exit_code";
  }
  return d;
}

}  // namespace plugvisor::sandbox
