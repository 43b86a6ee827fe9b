// plugvisor-runner: prepares a plugin's process and execs it. See README.md for the modes and
// SPEC.md for the sandboxed one. Without --spec-fd it only does what it always did: PDEATHSIG,
// setsid, close fds, scrub env, exec (errors on stderr, exit 126/127).
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "namespaces.h"
#include "probe.h"
#include "sandbox.h"
#include "seccomp_policy.h"

extern char** environ;

namespace {

constexpr int kExitSetupFailed = 126;
constexpr int kExitExecFailed = 127;
constexpr int kFirstStrayFd = 5;  // 0-2 stdio, 3 plugin.v1, 4 host.v1

[[noreturn]] void die(const char* step, int err) {
  std::fprintf(stderr, "plugvisor-runner: %s: %s\n", step, std::strerror(err));
  std::_Exit(kExitSetupFailed);
}

// Variables every plugin gets; anything else must be named with --keep-env.
bool always_kept(std::string_view name) {
  static constexpr std::string_view kKept[] = {"PATH", "LANG", "LC_ALL", "TZ"};
  for (auto k : kKept) {
    if (name == k) return true;
  }
  return name.rfind("PLUGVISOR_", 0) == 0;
}

struct Args {
  bool probe = false;
  bool print_seccomp = false;
  std::string make_netns;
  bool allow_spawn = false;  // with --print-seccomp
  pid_t expect_parent = 0;
  int spec_fd = -1;
  int status_fd = -1;
  std::vector<std::string> keep_env;
  std::vector<char*> plugin_argv;  // null-terminated
};

int parse_fd(const char* s) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0 || v > 1 << 20) {
    std::fprintf(stderr, "plugvisor-runner: bad fd '%s'\n", s);
    std::_Exit(kExitSetupFailed);
  }
  return static_cast<int>(v);
}

Args parse_args(int argc, char** argv) {
  Args args;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--probe") {
      args.probe = true;
    } else if (a == "--make-netns" && i + 1 < argc) {
      args.make_netns = argv[++i];
    } else if (a == "--print-seccomp") {
      args.print_seccomp = true;
    } else if (a == "--allow-spawn") {
      args.allow_spawn = true;
    } else if (a == "--expect-parent" && i + 1 < argc) {
      args.expect_parent = static_cast<pid_t>(std::strtol(argv[++i], nullptr, 10));
    } else if (a == "--spec-fd" && i + 1 < argc) {
      args.spec_fd = parse_fd(argv[++i]);
    } else if (a == "--status-fd" && i + 1 < argc) {
      args.status_fd = parse_fd(argv[++i]);
    } else if (a == "--keep-env" && i + 1 < argc) {
      args.keep_env.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr, "plugvisor-runner: unknown argument '%s'\n", argv[i]);
      std::_Exit(kExitSetupFailed);
    }
  }
  // With a spec the plugin's command line comes from it; one after "--" is allowed (it makes
  // `ps` readable) and ignored.
  const bool needs_command =
      !args.probe && !args.print_seccomp && args.make_netns.empty() && args.spec_fd < 0;
  if (needs_command && i >= argc) {
    std::fprintf(stderr, "plugvisor-runner: no plugin command after '--'\n");
    std::_Exit(kExitSetupFailed);
  }
  for (; i < argc; ++i) args.plugin_argv.push_back(argv[i]);
  args.plugin_argv.push_back(nullptr);
  return args;
}

void close_stray_fds() {
  if (syscall(SYS_close_range, kFirstStrayFd, ~0U, 0) == 0) return;
  // Kernels before 5.9: close what could be open.
  long max_fd = sysconf(_SC_OPEN_MAX);
  for (long fd = kFirstStrayFd; fd < max_fd; ++fd) close(static_cast<int>(fd));
}

std::vector<char*> scrubbed_environment(const Args& args) {
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry = *e;
    auto name = entry.substr(0, entry.find('='));
    bool keep = always_kept(name);
    for (const auto& k : args.keep_env) keep = keep || name == k;
    if (keep) env.push_back(*e);
  }
  env.push_back(nullptr);
  return env;
}

// `sandbox: off`: the runner as it was before the sandbox existed.
[[noreturn]] void run_unsandboxed(const Args& args) {
  // 1. Die with the supervisor. PDEATHSIG survives the execve below; the getppid check closes
  //    the window in which the supervisor died before prctl ran.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PR_SET_PDEATHSIG)", errno);
  if (args.expect_parent != 0 && getppid() != args.expect_parent) {
    std::fprintf(stderr, "plugvisor-runner: supervisor exited before the plugin started\n");
    std::_Exit(kExitSetupFailed);
  }

  // 2. Own session and process group: the supervisor signals -pid to reach every descendant.
  if (setsid() < 0) die("setsid", errno);

  // 3. Nothing but stdio and the two channels crosses into the plugin.
  close_stray_fds();

  // 4. + 5.
  std::vector<char*> env = scrubbed_environment(args);
  execve(args.plugin_argv[0], args.plugin_argv.data(), env.data());
  std::fprintf(stderr, "plugvisor-runner: exec %s: %s\n", args.plugin_argv[0],
               std::strerror(errno));
  std::_Exit(kExitExecFailed);
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  if (args.probe) return plugvisor::runner::run_probe();
  if (!args.make_netns.empty()) return plugvisor::runner::make_netns(args.make_netns);
  if (args.print_seccomp) {
    plugvisor::runner::print_seccomp_policy(args.allow_spawn, STDOUT_FILENO);
    return 0;
  }
  if (args.spec_fd < 0) run_unsandboxed(args);
  plugvisor::runner::run_sandboxed({args.expect_parent, args.spec_fd, args.status_fd});
}
