// The driver's checks: the runner under the full sandbox, seen from inside (the victim) and
// outside. Each prints "ok"/"FAIL" lines; run_checks returns the number of failures.
#include "checks.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "launch.h"

namespace plugvisor::runner_test {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int g_failures = 0;

void expect(bool ok, const std::string& what, const std::string& got = "") {
  std::printf("  %s %s%s\n", ok ? "ok  " : "FAIL", what.c_str(),
              ok || got.empty() ? "" : ("  (got: " + got + ")").c_str());
  if (!ok) ++g_failures;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::string fixture(const std::string& name) { return "/plugin/plugvisor-fixture-" + name; }
const char* kVictim = "/tools/plugvisor-runner-driver";

// Runs the driver as a victim plugin; returns its stdout key=values, the status lines and the
// runner's wait status.
struct VictimRun {
  std::map<std::string, std::string> out;
  std::vector<std::string> status;
  int wait_status = -1;
};

VictimRun run_victim(const std::string& action, bool cgroups = false,
                     const std::function<void(Json&)>& edit = {}) {
  Scratch scratch(cgroups);
  Json spec = make_spec(kVictim, {"plugvisor-runner-driver", "victim", action}, scratch);
  if (edit) edit(spec);
  Launched l = Launched::start(spec, {}, true);
  VictimRun run;
  for (std::string line; !(line = l.stdout_line()).empty();) {
    auto eq = line.find('=');
    if (eq != std::string::npos) run.out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  run.status = l.status_rest();
  run.wait_status = l.wait(10s).value_or(-1);
  return run;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : " | ") + l;
  return out;
}

void check_smoke() {
  std::printf("echo fixture under the full sandbox\n");
  Scratch scratch(true);
  Launched l =
      Launched::start(make_spec(fixture("echo"), {"plugvisor-fixture-echo"}, scratch), {}, false);
  const std::string first = l.status_line();
  expect(first == R"({"exec":"ok"})", "status: exec ok", first);
  auto st = l.describe();
  expect(st.ok(), "Describe", st.error_message());
  st = l.invoke(R"({"_patch":{"a":1}})");
  expect(st.ok(), "Invoke", st.error_message());
  st = l.shutdown();
  expect(st.ok(), "Shutdown", st.error_message());
  const auto rest = l.status_rest();
  expect(rest == std::vector<std::string>{R"({"exit":{"code":0}})"}, "status: exit code 0",
         joined(rest));
  const auto status = l.wait(10s);
  expect(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0, "runner exits 0",
         status ? describe_status(*status) : "still running");
}

void check_world() {
  std::printf("what the plugin sees\n");
  auto run = run_victim("world", true);
  auto is = [&](const std::string& key, const std::string& want) {
    auto it = run.out.find(key);
    const std::string got = it == run.out.end() ? "<missing>" : it->second;
    expect(got == want, key + " = " + want, got);
  };
  is("pid", "2");
  is("fds", "0,1,2,3,4");
  is("env", "PATH,LANG,PLUGVISOR_PLUGIN_ID");
  is("uid", "0");
  is("hostname", "plugin-runner-test");
  is("CapEff", "0000000000000000");
  is("CapPrm", "0000000000000000");
  is("CapBnd", "0000000000000000");
  is("CapAmb", "0000000000000000");
  is("NoNewPrivs", "1");
  is("Seccomp", "2");
  is("proc_pids", "2");  // hidepid: the init is not dumpable, so invisible
  is("open_etc_shadow", "ENOENT");
  is("write_usr", "EROFS");
  is("write_plugin", "EROFS");
  is("write_data", "ok");
  is("write_tmp", "ok");
  is("write_dev_null", "ok");
  is("trunc_dev_null", "ok");
  is("read_urandom", "ok");
  is("mkdir_root", "EROFS");
  is("socket_inet", "EAFNOSUPPORT");
  is("socket_inet6", "EAFNOSUPPORT");
  is("socket_unix", "ok");
  is("kill_init", "EPERM");
  is("thread", "ok");
  is("bind_path", "ok");
  is("list_root", "EACCES");
  for (const char* p : {"home", "root", "etc/passwd", "var", "sys", "run"}) {
    is(std::string("stat_") + p, "ENOENT");
  }
  is("stat_lib64_ld", "ok");
  expect(run.out["cgroup"].find(":memory:/") != std::string::npos &&
             run.out["cgroup"].find("plugvisor-runner-test") == std::string::npos,
         "cgroup namespace rooted at the plugin's cgroup", run.out["cgroup"]);
  expect(run.status == std::vector<std::string>{R"({"exec":"ok"})", R"({"exit":{"code":0}})"},
         "status: exec ok, exit 0", joined(run.status));
}

void check_denied(const std::string& action, const std::string& syscall) {
  std::printf("denied: %s\n", action.c_str());
  const auto run = run_victim(action);
  expect(run.out.count("survived") == 0, "the plugin did not survive");
  const std::string want_prefix = R"({"exit":{"signal":31,"syscall":)";
  const bool reported =
      run.status.size() == 2 && run.status[1].rfind(want_prefix, 0) == 0 &&
      run.status[1].find("\"syscall_name\":\"" + syscall + "\"") != std::string::npos;
  expect(reported, "status names " + syscall, joined(run.status));
  expect(WIFSIGNALED(run.wait_status) && WTERMSIG(run.wait_status) == SIGSYS,
         "runner dies of SIGSYS", describe_status(run.wait_status));
}

void check_exit_code() {
  std::printf("exit code passes through\n");
  const auto run = run_victim("exit7");
  expect(joined(run.status) == R"({"exec":"ok"} | {"exit":{"code":7}})", "status: exit 7",
         joined(run.status));
  expect(WIFEXITED(run.wait_status) && WEXITSTATUS(run.wait_status) == 7, "runner exits 7",
         describe_status(run.wait_status));
}

// Host side: the plugin runs as its own uid, and SIGTERM to the runner reaches it once.
void check_outside() {
  std::printf("seen from the host; SIGTERM forwarding\n");
  Scratch scratch;
  Launched l = Launched::start(
      make_spec(kVictim, {"plugvisor-runner-driver", "victim", "hold"}, scratch), {}, true);
  expect(l.stdout_line() == "ready=1", "victim is ready");
  // runner -> init -> plugin, by /proc/<pid>/task/<pid>/children.
  auto child_of = [](pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    pid_t child = -1;
    in >> child;
    return child;
  };
  const pid_t init = child_of(l.pid());
  const pid_t plugin = child_of(init);
  std::ifstream status("/proc/" + std::to_string(plugin) + "/status");
  std::string line, uid;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) uid = line;
  }
  const std::string want = std::to_string(kPluginUid);
  expect(uid == "Uid:\t" + want + "\t" + want + "\t" + want + "\t" + want,
         "plugin's host uid is " + want, uid);
  ::kill(-l.pid(), SIGTERM);  // as plugvisord does: the runner's process group
  const auto rest = l.status_rest();
  expect(joined(rest) == R"({"exec":"ok"} | {"exit":{"signal":15}})",
         "status: exec ok, killed by SIGTERM", joined(rest));
  const auto st = l.wait(10s);
  expect(st && WIFSIGNALED(*st) && WTERMSIG(*st) == SIGTERM, "runner dies of SIGTERM",
         st ? describe_status(*st) : "still running");
}

void check_bad_spec() {
  std::printf("setup failures are reported by step\n");
  Scratch scratch;
  Json spec = make_spec(fixture("echo"), {}, scratch);
  spec["root"]["binds"].push_back({{"host", "/nonexistent"}, {"inside", "/x"}});
  Launched l = Launched::start(spec, {}, false);
  const auto lines = l.status_rest();
  const bool ok = lines.size() == 1 && lines[0].rfind(R"({"step":"binds","errno":2,)", 0) == 0;
  expect(ok, "status: step binds, ENOENT", joined(lines));
  const auto st = l.wait(10s);
  expect(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 126, "runner exits 126",
         st ? describe_status(*st) : "still running");

  spec = make_spec(fixture("echo"), {}, scratch);
  spec["host_uid"] = 0;
  Launched root = Launched::start(spec, {}, false);
  const auto root_lines = root.status_rest();
  expect(root_lines.size() == 1 && root_lines[0].rfind(R"({"step":"read_spec")", 0) == 0,
         "host_uid 0 refused", joined(root_lines));
}

void check_spawn() {
  std::printf("seccomp.allow_spawn: a child's denial kills the child only\n");
  const auto run =
      run_victim("child_ptrace", false, [](Json& s) { s["seccomp"]["allow_spawn"] = true; });
  expect(run.out.count("child") == 1 && run.out.at("child") == "signal 9", "child killed (SIGKILL)",
         run.out.count("child") ? run.out.at("child") : "<missing>");
  expect(run.out.count("survived") == 1, "the plugin survived");
  expect(joined(run.status) == R"({"exec":"ok"} | {"exit":{"code":0}})", "status: exit 0",
         joined(run.status));
}

void check_without_userns() {
  std::printf("namespaces.user off: the plugin is its host uid itself\n");
  auto run = run_victim("world", false, [](Json& s) { s["namespaces"]["user"] = false; });
  const std::string uid = std::to_string(kPluginUid);
  expect(run.out["uid"] == uid, "uid = " + uid, run.out["uid"]);
  expect(run.out["CapEff"] == "0000000000000000" && run.out["CapBnd"] == "0000000000000000",
         "no capabilities", run.out["CapEff"] + "/" + run.out["CapBnd"]);
  expect(run.out["NoNewPrivs"] == "1" && run.out["Seccomp"] == "2", "no_new_privs, seccomp",
         run.out["NoNewPrivs"] + "/" + run.out["Seccomp"]);
  expect(run.out["write_data"] == "ok" && run.out["write_usr"] == "EROFS", "mounts as usual",
         run.out["write_data"] + "/" + run.out["write_usr"]);
}

void check_exec_failure() {
  std::printf("a missing plugin binary is a step failure\n");
  Scratch scratch;
  Launched l = Launched::start(make_spec("/plugin/does-not-exist", {}, scratch), {}, false);
  const auto lines = l.status_rest();
  expect(lines.size() == 1 && lines[0].rfind(R"({"step":"execve","errno":2,)", 0) == 0,
         "status: step execve, ENOENT", joined(lines));
  const auto st = l.wait(10s);
  expect(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 126, "runner exits 126",
         st ? describe_status(*st) : "still running");
}

// The alloc fixture grows until the memory cgroup (256 MiB) kills it.
void check_oom() {
  std::printf("memory cgroup limit: OOM kill reported as SIGKILL\n");
  Scratch scratch(true);
  Launched l =
      Launched::start(make_spec(fixture("alloc"), {"plugvisor-fixture-alloc"}, scratch), {}, false);
  expect(l.describe().ok(), "Describe");
  l.invoke("{}");
  const auto rest = l.status_rest();
  expect(joined(rest) == R"({"exec":"ok"} | {"exit":{"signal":9}})", "status: signal 9",
         joined(rest));
  std::ifstream oom(scratch.cgroup_dirs[0] + "/memory.oom_control");
  std::string text((std::istreambuf_iterator<char>(oom)), std::istreambuf_iterator<char>());
  expect(text.find("oom_kill 0") == std::string::npos, "the cgroup counted an OOM kill", text);
  l.wait(10s);
}

// SIGKILL to the runner (plugvisord's last resort) leaves nothing behind.
void check_runner_killed() {
  std::printf("SIGKILL to the runner takes the sandbox with it\n");
  Scratch scratch;
  Launched l = Launched::start(
      make_spec(kVictim, {"plugvisor-runner-driver", "victim", "hold"}, scratch), {}, true);
  expect(l.stdout_line() == "ready=1", "victim is ready");
  std::ifstream in("/proc/" + std::to_string(l.pid()) + "/task/" + std::to_string(l.pid()) +
                   "/children");
  pid_t init = -1;
  in >> init;
  ::kill(l.pid(), SIGKILL);
  l.wait(10s);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = ::kill(init, 0) != 0;
    std::this_thread::sleep_for(10ms);
  }
  expect(gone, "the init (and with it the plugin) is gone");
  expect(l.stdout_line().empty(), "the plugin's stdout is closed");
}

}  // namespace

int run_checks(bool smoke_only) {
  check_smoke();
  if (smoke_only) return g_failures;
  check_world();
  check_exit_code();
  check_outside();
  check_bad_spec();
  check_exec_failure();
  check_spawn();
  check_without_userns();
  check_oom();
  check_runner_killed();
  check_denied("ptrace", "ptrace");
  check_denied("memfd", "memfd_create");
  check_denied("io_uring", "io_uring_setup");
  check_denied("fork", "clone");
  check_denied("unshare", "unshare");
  check_denied("tiocsti", "ioctl");
  check_denied("int80", "i386:getpid");
  return g_failures;
}

}  // namespace plugvisor::runner_test
