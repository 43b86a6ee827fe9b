#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

namespace plugvisor::process {

// The last N invocation durations, for p50/p99 in status. Not thread-safe: the owner locks.
class LatencyWindow {
 public:
  void record(std::chrono::microseconds d) {
    samples_[next_ % samples_.size()] = d.count();
    ++next_;
  }
  // q in [0, 1]; 0 when nothing was recorded.
  uint64_t quantile(double q) const {
    size_t n = std::min<size_t>(next_, samples_.size());
    if (n == 0) return 0;
    std::vector<int64_t> v(samples_.begin(), samples_.begin() + static_cast<long>(n));
    auto k = static_cast<size_t>(q * static_cast<double>(n - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return static_cast<uint64_t>(v[k]);
  }

 private:
  std::array<int64_t, 1024> samples_{};
  uint64_t next_ = 0;
};

}  // namespace plugvisor::process
