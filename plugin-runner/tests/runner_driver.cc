// plugvisor-runner-driver: see CMakeLists.txt.
// plugvisor-runner-driver [--runner PATH] [--netns PATH] COMMAND
//   check        checks.cc; exit 0 if all pass, 77 (skip) when not root
//   smoke        the echo fixture, sandboxed: Describe, Invoke, Shutdown
//   bench [N]    spawn-to-ready of the noop fixture, N (20) unsandboxed vs N sandboxed
//   victim WHAT  (inside the sandbox, as the plugin) see victim.cc
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "checks.h"
#include "launch.h"
#include "victim.h"

namespace plugvisor::runner_test {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

int bench(int samples) {
  std::vector<double> plain, sandboxed, to_exec;
  for (int i = -1; i < samples; ++i) {  // one warm-up pair
    for (bool sandbox : {false, true}) {
      Scratch scratch;
      std::optional<Json> spec;
      if (sandbox)
        spec = make_spec("/plugin/plugvisor-fixture-noop", {"plugvisor-fixture-noop"}, scratch);
      const auto t0 = Clock::now();
      Launched l = Launched::start(spec, {plugin_dir() + "/plugvisor-fixture-noop"}, false);
      double exec_ms = 0;
      if (sandbox) {
        if (l.status_line() != R"({"exec":"ok"})") {
          std::fprintf(stderr, "sandboxed spawn failed\n");
          return 1;
        }
        exec_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      }
      const auto st = l.describe();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!st.ok()) {
        std::fprintf(stderr, "Describe failed: %s\n", st.error_message().c_str());
        return 1;
      }
      l.shutdown();
      l.wait(5s);
      if (i < 0) continue;
      (sandbox ? sandboxed : plain).push_back(ms);
      if (sandbox) to_exec.push_back(exec_ms);
    }
  }
  auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("%-28s p50 %7.2f ms   p90 %7.2f ms   min %7.2f ms\n", name, percentile(v, 0.5),
                percentile(v, 0.9), *std::min_element(v.begin(), v.end()));
  };
  std::printf("spawn-to-ready (Describe answered), noop fixture, %d samples each\n", samples);
  row("unsandboxed runner", plain);
  row("sandboxed runner", sandboxed);
  row("sandboxed: spawn to exec", to_exec);
  std::printf("added at p50: %.2f ms\n", percentile(sandboxed, 0.5) - percentile(plain, 0.5));
  // Each sandboxed run follows an unsandboxed one: the median of those pairs' differences is
  // less swayed by the machine's load drifting during the run than the difference of medians.
  std::vector<double> paired;
  for (size_t k = 0; k < sandboxed.size(); ++k) paired.push_back(sandboxed[k] - plain[k]);
  std::printf("added, median of %zu paired differences: %.2f ms\n", paired.size(),
              percentile(paired, 0.5));
  return 0;
}

}  // namespace

}  // namespace plugvisor::runner_test

int main(int argc, char** argv) {
  using namespace plugvisor::runner_test;
  while (argc > 2 && std::string(argv[1]).rfind("--", 0) == 0) {
    const std::string opt = argv[1];
    if (opt == "--runner") {
      set_runner_path(argv[2]);
    } else if (opt == "--netns") {
      set_netns(argv[2]);
    } else {
      break;
    }
    argv += 2;
    argc -= 2;
  }
  const std::string cmd = argc > 1 ? argv[1] : "check";
  if (cmd == "victim" && argc > 2) return victim_main(argv[2]);
  if (::geteuid() != 0) {
    std::printf("SKIP: needs root (user namespaces mapped to other uids, cgroups)\n");
    return 77;
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (cmd == "bench") return bench(argc > 2 ? std::atoi(argv[2]) : 20);
  int failures = 0;
  if (cmd == "smoke" || cmd == "check") {
    failures = run_checks(cmd == "smoke");
  } else {
    std::fprintf(stderr, "usage: %s check|smoke|bench [N]|victim WHAT\n", argv[0]);
    return 64;
  }
  std::printf("%s\n", failures == 0 ? "all checks passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
