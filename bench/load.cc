#include "load.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <thread>

namespace plugvisor::bench {

std::atomic<bool> g_interrupted{false};

Result<LoadSample> run_load(const CallFn& call, int concurrency,
                            std::chrono::nanoseconds duration) {
  using clock = std::chrono::steady_clock;
  std::vector<std::vector<int64_t>> per_thread(static_cast<size_t>(concurrency));
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::mutex error_mu;
  std::string first_error;
  clock::time_point deadline;

  std::vector<std::thread> threads;
  threads.reserve(per_thread.size());
  for (auto& latencies : per_thread) {
    // Enough room for a fast baseline run, so that growing the vector stays out of the timing.
    latencies.reserve(static_cast<size_t>(std::chrono::duration<double>(duration).count() *
                                          40000.0 / concurrency) +
                      16);
    threads.emplace_back([&] {
      // All threads start together, so the c=16 figure is not diluted by thread start-up.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (;;) {
        const auto t0 = clock::now();
        if (t0 >= deadline || stop.load(std::memory_order_relaxed)) return;
        std::string error = call();
        const auto t1 = clock::now();
        if (!error.empty()) {
          std::lock_guard lock(error_mu);
          if (first_error.empty()) first_error = std::move(error);
          stop = true;
          return;
        }
        latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
        if (g_interrupted.load(std::memory_order_relaxed)) stop = true;
      }
    });
  }
  const auto start = clock::now();
  deadline = start + duration;
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const auto end = clock::now();

  if (!first_error.empty()) return Error{first_error};
  if (g_interrupted) return Error{"interrupted"};
  LoadSample sample;
  sample.elapsed = end - start;
  for (auto& latencies : per_thread) {
    sample.latencies_ns.insert(sample.latencies_ns.end(), latencies.begin(), latencies.end());
  }
  return sample;
}

double percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
  return static_cast<double>(values[std::clamp<size_t>(rank, 1, values.size()) - 1]);
}

LoadStats summarise(int concurrency, const std::vector<LoadSample>& samples) {
  LoadStats stats;
  stats.concurrency = concurrency;
  std::vector<int64_t> all;
  double seconds = 0;
  for (const auto& s : samples) {
    all.insert(all.end(), s.latencies_ns.begin(), s.latencies_ns.end());
    const double slice_s = std::chrono::duration<double>(s.elapsed).count();
    seconds += slice_s;
    stats.round_calls_per_s.push_back(
        slice_s > 0 ? static_cast<double>(s.latencies_ns.size()) / slice_s : 0);
  }
  stats.calls = all.size();
  stats.calls_per_s = seconds > 0 ? static_cast<double>(all.size()) / seconds : 0;
  stats.p50_us = percentile(all, 0.50) / 1000.0;
  stats.p99_us = percentile(all, 0.99) / 1000.0;
  return stats;
}

}  // namespace plugvisor::bench
