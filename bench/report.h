// The bench's results, printed as a table for people or as JSON (--json) for scripts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "load.h"

namespace plugvisor::bench {

struct SpawnStats {
  int samples = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

struct Report {
  // How it was measured.
  double duration_s = 0;
  int rounds = 0;
  int spawn_samples = 0;
  std::string database;
  std::string sandbox;  // plugvisord's sandbox mode in the Dispatch row
  // A row is empty if the step it belongs to failed; `errors` then says why.
  std::optional<LoadStats> baseline_c1, baseline_c16, dispatch_c1, dispatch_c16;
  std::optional<SpawnStats> spawn_baseline, spawn_plugin;
  std::optional<int> plugvisord_wait_status;
  std::vector<std::string> errors;
};

// The acceptance goals of issue 2; nullopt if a row they need is missing.
struct Goals {
  std::optional<double> p50_ratio;         // Dispatch p50 / baseline p50 at c=1; goal <= 2.3
  std::optional<double> throughput_ratio;  // Dispatch / baseline calls/s at c=16; goal >= 0.6
  static constexpr double kMaxP50Ratio = 2.3;
  static constexpr double kMinThroughputRatio = 0.6;
  bool p50_met() const { return p50_ratio && *p50_ratio <= kMaxP50Ratio; }
  bool throughput_met() const {
    return throughput_ratio && *throughput_ratio >= kMinThroughputRatio;
  }
};

Goals evaluate(const Report& report);
bool plugvisord_exited_cleanly(const Report& report);
std::string format_table(const Report& report);
std::string format_json(const Report& report);

}  // namespace plugvisor::bench
