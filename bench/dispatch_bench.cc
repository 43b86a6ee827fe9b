// plugvisor-bench-dispatch: what a Dispatch through plugvisord costs compared with the cheapest
// gRPC call over the same kind of channel (and with the cheapest two-hop relay, the floor for
// any process in the middle), and what a plugin start costs compared with a bare gRPC server's.
// See README.md for what each row measures.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "async_relay_server.h"
#include "child.h"
#include "echo_server.h"
#include "load.h"
#include "plugvisor/hooks/v1/hooks.grpc.pb.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"
#include "relay_server.h"
#include "report.h"
#include "rows.h"
#include "spawn_bench.h"
#include "supervisor_run.h"

namespace plugvisor::bench {
namespace {

namespace fs = std::filesystem;
namespace hv1 = plugvisor::hooks::v1;
namespace pv1 = plugvisor::plugin::v1;

struct Options {
  double duration_s = 3.0;
  int samples = 20;
  int rounds = 3;
  std::string build_dir;
  std::string sandbox = "off";
  bool json = false;
  int async_relay_threads = 1;
  int dispatch_threads = 0;               // plugvisord's dispatch.threads; 0: its default
  std::string async_relay_poll_strategy;  // GRPC_POLL_STRATEGY for the async relay; "" inherits
};

void on_stop_signal(int) { g_interrupted = true; }

void progress(const std::string& line) { std::cerr << "[bench] " << line << std::endl; }

// Shutdown RPC, then up to 5 s for each process to exit; RAII SIGKILLs whatever is left.
void shut_down(pv1::Plugin::Stub& stub, std::initializer_list<ChildProcess*> processes) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pv1::ShutdownResponse resp;
  if (!stub.Shutdown(&ctx, pv1::ShutdownRequest{}, &resp).ok()) return;
  for (ChildProcess* p : processes) p->wait_for(std::chrono::seconds(5));
}

// A relay (`front`) and the echo server behind it (logging where the relay does), checked with
// one Invoke through both, so that a broken chain is reported as such rather than as a failed
// measurement.
Result<RelayChain> start_relay(const std::string& self, const SpawnRequest& front) {
  const std::string& log = front.log_path;
  auto chain = spawn_relay_chain(front, {{self, "--echo-server"}, current_environment(), log});
  if (!chain) return chain.error();
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  pv1::InvokeRequest req;
  req.set_hook("tool.pre_exec");
  req.set_data_json("{}");
  pv1::InvokeResponse resp;
  const grpc::Status s = pv1::Plugin::NewStub(chain->channel)->Invoke(&ctx, req, &resp);
  if (!s.ok()) {
    return Error{"first Invoke through the relay: " + s.error_message() + "\n--- log ---\n" +
                 tail_of_file(log, 2000)};
  }
  return chain;
}

SpawnStats spawn_stats(std::vector<int64_t> ns) {
  SpawnStats s;
  s.samples = static_cast<int>(ns.size());
  s.p50_ms = percentile(ns, 0.50) / 1e6;
  s.p99_ms = percentile(ns, 0.99) / 1e6;
  return s;
}

struct Paths {
  std::string self, plugvisord, runner, noop;
};

Result<Paths> find_binaries(const Options& o) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Error{"cannot read /proc/self/exe: " + ec.message()};
  // The bench lives in <build>/bench/, next to <build>/supervisor/ and <build>/plugins/.
  const fs::path build =
      o.build_dir.empty() ? self.parent_path().parent_path() : fs::path(o.build_dir);
  Paths p{self.string(), (build / "supervisor/plugvisord").string(),
          (build / "plugin-runner/plugvisor-runner").string(),
          (build / "plugins/plugvisor-fixture-noop").string()};
  for (const auto& path : {p.plugvisord, p.runner, p.noop}) {
    if (access(path.c_str(), X_OK) != 0) {
      return Error{path +
                   " is missing; build it first: ninja plugvisord plugvisor-runner "
                   "plugvisor_fixtures (or use --build-dir)"};
    }
  }
  return p;
}

// The baseline, two-hop floor and Dispatch rows. The relay's or plugvisord's failure leaves the
// other rows standing.
void latency_rows(const Paths& paths, const TempDir& tmp, const Options& o, bool quick,
                  Report& report) {
  progress("starting the echo server");
  auto echo = spawn_plugin_child(
      {{paths.self, "--echo-server"}, current_environment(), tmp.path() + "/echo.log"});
  if (!echo) {
    report.errors.push_back("echo server: " + echo.error().message);
    return;
  }
  auto echo_stub = pv1::Plugin::NewStub(echo->channel);

  progress("starting the two-hop relay and its echo server");
  auto relay = start_relay(
      paths.self,
      {{paths.self, "--relay-server"}, current_environment(), tmp.path() + "/relay.log"});
  std::unique_ptr<pv1::Plugin::Stub> relay_stub;
  if (relay) {
    relay_stub = pv1::Plugin::NewStub(relay->channel);
  } else {
    report.errors.push_back("two-hop relay: " + relay.error().message);
  }
  progress("starting the async relay and its echo server");
  // GRPC_POLL_STRATEGY for this process only, so that the other rows keep theirs.
  std::vector<std::string> async_env = current_environment();
  if (!o.async_relay_poll_strategy.empty()) {
    set_environment_variable(async_env, "GRPC_POLL_STRATEGY", o.async_relay_poll_strategy);
  }
  auto async_relay = start_relay(paths.self, {{paths.self, "--async-relay-server", "--cq-threads",
                                               std::to_string(o.async_relay_threads)},
                                              std::move(async_env),
                                              tmp.path() + "/async-relay.log"});
  std::unique_ptr<pv1::Plugin::Stub> async_stub;
  if (async_relay) {
    async_stub = pv1::Plugin::NewStub(async_relay->channel);
  } else {
    report.errors.push_back("async relay: " + async_relay.error().message);
  }

  progress("starting plugvisord (" + report.database + ") and waiting for the plugin");
  auto sup = SupervisorRun::start({paths.plugvisord, paths.noop, tmp.path(),
                                   o.sandbox == "default" ? "" : o.sandbox, o.dispatch_threads},
                                  std::chrono::seconds(90));
  std::unique_ptr<hv1::Hooks::Stub> hooks_stub;
  if (sup) {
    hooks_stub = hv1::Hooks::NewStub((*sup)->channel());
  } else {
    report.errors.push_back("plugvisord: " + sup.error().message);
  }

  const CallFn base = invoke_call(*echo_stub, "echo");
  const CallFn relayed = relay_stub ? invoke_call(*relay_stub, "relay") : CallFn{};
  const CallFn async_relayed = async_stub ? invoke_call(*async_stub, "async relay") : CallFn{};
  const CallFn disp = hooks_stub ? dispatch_call(*hooks_stub) : CallFn{};
  for (int c : {1, 16}) {
    progress("measuring at concurrency " + std::to_string(c));
    const bool one = c == 1;
    // plugvisord's tree holds its plugin (through the runner) and, when embedded, its
    // PostgreSQL, which writes the receipts.
    const std::vector<Row> rows = {
        {&base, {echo->process.pid()}, one ? &report.baseline_c1 : &report.baseline_c16},
        {relay_stub ? &relayed : nullptr,
         relay ? std::vector{relay->front.pid(), relay->back.pid()} : std::vector<pid_t>{},
         one ? &report.relay_c1 : &report.relay_c16},
        {async_stub ? &async_relayed : nullptr,
         async_relay ? std::vector{async_relay->front.pid(), async_relay->back.pid()}
                     : std::vector<pid_t>{},
         one ? &report.async_relay_c1 : &report.async_relay_c16},
        {hooks_stub ? &disp : nullptr, sup ? std::vector{(*sup)->pid()} : std::vector<pid_t>{},
         one ? &report.dispatch_c1 : &report.dispatch_c16}};
    if (auto s = measure_rows(rows, c, {o.duration_s, o.rounds, quick}); !s) {
      report.errors.push_back("concurrency " + std::to_string(c) + ": " + s.error().message);
      break;
    }
  }

  if (sup) {
    if (auto tally = (*sup)->receipts(std::chrono::seconds(30))) {
      report.receipts = *tally;
    } else {
      report.errors.push_back(tally.error().message);
    }
    progress("stopping plugvisord");
    auto status = (*sup)->stop(std::chrono::seconds(60));
    if (status) {
      report.plugvisord_wait_status = *status;
      if (!plugvisord_exited_cleanly(report)) {
        report.errors.push_back("plugvisord " + describe_wait_status(*status) +
                                " after SIGTERM\n--- log (tail) ---\n" +
                                tail_of_file((*sup)->log_path(), 3000));
      }
    } else {
      report.errors.push_back(status.error().message);
    }
  }
  // The relay passes Shutdown on to the echo server behind it.
  if (relay_stub) shut_down(*relay_stub, {&relay->front, &relay->back});
  if (async_stub) shut_down(*async_stub, {&async_relay->front, &async_relay->back});
  shut_down(*echo_stub, {&echo->process});
}

void spawn_rows(const Paths& paths, const TempDir& tmp, const Options& o, Report& report) {
  progress("measuring spawn-to-ready, " + std::to_string(o.samples) + " samples each");
  SpawnTarget baseline{"echo server", {paths.self, "--echo-server"}, false};
  SpawnTarget plugin{
      "noop plugin",
      {paths.runner, "--expect-parent", std::to_string(getpid()), "--", paths.noop, "--id", "noop"},
      true};
  auto samples = measure_spawn(baseline, plugin, o.samples, tmp.path() + "/spawn.log");
  if (!samples) {
    report.errors.push_back("spawn-to-ready: " + samples.error().message);
    return;
  }
  report.spawn_baseline = spawn_stats(std::move(samples->baseline_ns));
  report.spawn_plugin = spawn_stats(std::move(samples->plugin_ns));
}

int run(int argc, char** argv) {
  Options o;
  bool quick = false;
  bool echo_server = false;
  bool relay_server = false;
  bool async_relay_server = false;
  int cq_threads = 1;
  CLI::App cli{
      "plugvisor-bench-dispatch: Dispatch through plugvisord and plugin spawn-to-ready, "
      "each as a ratio to a raw gRPC baseline measured in the same run"};
  auto* duration_opt =
      cli.add_option("--duration-s", o.duration_s, "seconds per latency/throughput row")
          ->check(CLI::PositiveNumber);
  auto* samples_opt = cli.add_option("--samples", o.samples, "spawn-to-ready samples per row")
                          ->check(CLI::PositiveNumber);
  auto* rounds_opt = cli.add_option("--rounds", o.rounds,
                                    "interleaved baseline/relay/Dispatch slices each row is split "
                                    "into")
                         ->check(CLI::PositiveNumber);
  cli.add_option("--build-dir", o.build_dir,
                 "build tree with supervisor/, plugin-runner/ and plugins/ (default: the parent "
                 "of this binary's directory)");
  cli.add_option("--sandbox", o.sandbox,
                 "plugvisord's sandbox mode for the Dispatch row: off (default; the plugin runs "
                 "as the spawn row starts it), enforce, or default (the config leaves it out)")
      ->check(CLI::IsMember({"off", "enforce", "default"}));
  cli.add_flag("--json", o.json, "print the results as JSON instead of tables");
  cli.add_flag("--quick", quick, "a short run that proves the bench works (CTest)");
  cli.add_flag("--echo-server", echo_server, "internal: serve the baseline on fd 3")->group("");
  cli.add_flag("--relay-server", relay_server,
               "internal: serve the two-hop floor on fd 3, relaying to an echo server on fd 4")
      ->group("");
  cli.add_option("--async-relay-threads", o.async_relay_threads,
                 "completion-queue threads of the experimental async relay row (default 1)")
      ->check(CLI::Range(1, 16));
  cli.add_option("--dispatch-threads", o.dispatch_threads,
                 "plugvisord's dispatch.threads in the generated config (default: plugvisord's)")
      ->check(CLI::Range(1, 64));
  cli.add_option("--async-relay-poll-strategy", o.async_relay_poll_strategy,
                 "GRPC_POLL_STRATEGY for the async relay process only (default: inherited)");
  cli.add_flag("--async-relay-server", async_relay_server,
               "internal: serve the async two-hop relay on fd 3, relaying to fd 4")
      ->group("");
  cli.add_option("--cq-threads", cq_threads, "internal: the async relay's queue threads")
      ->group("");
  CLI11_PARSE(cli, argc, argv);
  if (echo_server) return run_echo_server();
  if (relay_server) return run_relay_server();
  if (async_relay_server) return run_async_relay_server(cq_threads);
  if (quick) {
    if (duration_opt->count() == 0) o.duration_s = 0.5;
    if (samples_opt->count() == 0) o.samples = 5;
    if (rounds_opt->count() == 0) o.rounds = 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto paths = find_binaries(o);
  if (!paths) {
    std::cerr << "plugvisor-bench-dispatch: " << paths.error().message << "\n";
    return 2;
  }
  auto tmp = TempDir::create();
  if (!tmp) {
    std::cerr << "plugvisor-bench-dispatch: " << tmp.error().message << "\n";
    return 2;
  }

  Report report;
  report.duration_s = o.duration_s;
  report.rounds = o.rounds;
  report.spawn_samples = o.samples;
  report.sandbox = o.sandbox;
  report.async_relay_threads = o.async_relay_threads;
  report.async_relay_poll_strategy = o.async_relay_poll_strategy;
  const char* url = std::getenv("PLUGVISOR_DATABASE_URL");
  report.database = url != nullptr && *url != '\0' ? "PLUGVISOR_DATABASE_URL" : "embedded";
  latency_rows(*paths, *tmp, o, quick, report);
  if (!g_interrupted) spawn_rows(*paths, *tmp, o, report);

  std::cout << (o.json ? format_json(report) : format_table(report)) << std::flush;
  // A missed goal is a result, not a failure; only a step that could not run fails the bench.
  return report.errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace plugvisor::bench

int main(int argc, char** argv) { return plugvisor::bench::run(argc, argv); }
