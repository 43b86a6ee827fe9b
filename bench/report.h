// The bench's results, printed as a table for people or as JSON (--json) for scripts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "load.h"

namespace plugvisor::bench {

// plugvisord's receipt writer at the end of the request rows (admin.v1 SupervisorStatus), after
// its queue drained: a receipt dropped is persistence work the Dispatch rows did not pay for.
struct ReceiptTally {
  uint64_t written = 0;
  uint64_t dropped = 0;
  uint64_t queued = 0;  // still waiting when the bench stopped asking
};

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
  std::optional<LoadStats> relay_c1, relay_c16;  // the two-hop floor
  // The experimental async relay (async_relay_server.h): its queue threads and poll strategy.
  std::optional<LoadStats> async_relay_c1, async_relay_c16;
  int async_relay_threads = 1;
  std::string async_relay_poll_strategy;  // "" when inherited
  std::optional<SpawnStats> spawn_baseline, spawn_plugin;
  std::optional<ReceiptTally> receipts;
  std::optional<int> plugvisord_wait_status;
  std::vector<std::string> errors;
};

// The acceptance goals of issue 2; nullopt if a row they need is missing.
struct Goals {
  std::optional<double> p50_ratio;         // Dispatch p50 / baseline p50 at c=1; goal <= 2.3
  std::optional<double> throughput_ratio;  // Dispatch / baseline calls/s at c=16; goal >= 0.6
  // The same ratio in each round (Dispatch's slice against the baseline's of that round): how
  // much of a reading is the machine's weather rather than plugvisord.
  std::vector<double> throughput_ratio_rounds;
  static constexpr double kMaxP50Ratio = 2.3;
  static constexpr double kMinThroughputRatio = 0.6;
  bool p50_met() const { return p50_ratio && *p50_ratio <= kMaxP50Ratio; }
  bool throughput_met() const {
    return throughput_ratio && *throughput_ratio >= kMinThroughputRatio;
  }
};

Goals evaluate(const Report& report);

// Dispatch against the two-hop floor (the raw gRPC relay): the floor pays for the two gRPC hops
// that any supervisor in the middle pays, and nothing else, so what Dispatch costs above it is
// plugvisord's own. nullopt where a row is missing or the gap is not positive.
struct FloorComparison {
  std::optional<double> p50_ratio;         // Dispatch p50 / relay p50 at c=1
  std::optional<double> throughput_ratio;  // Dispatch / relay calls/s at c=16
  // Of Dispatch's p50 over the baseline's at c=1, the part above the relay's: (D - R) / (D - B).
  std::optional<double> own_p50_us, own_p50_share;
  // The same for the time per call at c=16 (1 / calls/s), which is what caps throughput when
  // the cores are busy: (1/D - 1/R) / (1/D - 1/B).
  std::optional<double> own_cost_share_c16;
};

FloorComparison compare_to_floor(const Report& report);
bool plugvisord_exited_cleanly(const Report& report);
std::string format_table(const Report& report);
std::string format_json(const Report& report);

}  // namespace plugvisor::bench
