// Closed-loop load for one synchronous RPC: N threads each call, wait for the answer, and call
// again, for a fixed time. It reports every call's latency and the calls per second.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::bench {

// Set from the SIGINT/SIGTERM handler; every wait in the bench checks it so that Ctrl-C still
// runs the destructors that stop plugvisord and reap the children.
extern std::atomic<bool> g_interrupted;

// One synchronous call; called from several threads at once, so it must be thread-safe.
// Returns an empty string on success and the reason otherwise.
using CallFn = std::function<std::string()>;

struct LoadSample {
  std::vector<int64_t> latencies_ns;  // one per completed call, unsorted
  std::chrono::nanoseconds elapsed{0};
};

// Runs `call` on `concurrency` threads for `duration`. Any failed call ends the run with that
// call's error: a bench that silently counts errors as fast calls lies.
Result<LoadSample> run_load(const CallFn& call, int concurrency, std::chrono::nanoseconds duration);

// Latency percentiles and throughput over all samples of one row.
struct LoadStats {
  int concurrency = 0;
  uint64_t calls = 0;
  double p50_us = 0;
  double p99_us = 0;
  double calls_per_s = 0;
  // calls/s of each slice, in the order measured: how far the rounds of one row spread.
  std::vector<double> round_calls_per_s;
  // CPU time of the processes that serve the row (see Row::servers), per call; nullopt when it
  // could not be read.
  std::optional<double> server_cpu_us;
  // Context switches on the whole machine per call (machine_context_switches()).
  std::optional<double> switches_per_call;
};

LoadStats summarise(int concurrency, const std::vector<LoadSample>& samples);

// Nearest-rank percentile (p in [0, 1]) of an unsorted vector, which it sorts.
double percentile(std::vector<int64_t>& values, double p);

}  // namespace plugvisor::bench
