// The request rows: what one call of each row is, and how the rows are measured against each
// other (interleaved slices, with the serving processes' CPU and the machine's context
// switches read around each slice). dispatch_bench.cc starts the processes behind them.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

#include "load.h"
#include "plugvisor/common/result.h"
#include "plugvisor/hooks/v1/hooks.grpc.pb.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"

namespace plugvisor::bench {

// One Invoke as plugvisord sends it to a plugin: the same request shape and payload. The echo
// server and the relays all take it.
CallFn invoke_call(plugvisor::plugin::v1::Plugin::Stub& stub, const char* what);

// One Hooks.Dispatch as a host application sends it. An answer that is not one "ok" receipt
// is an error: a refused dispatch would be fast and meaningless.
CallFn dispatch_call(plugvisor::hooks::v1::Hooks::Stub& stub);

// One row at one concurrency: what it calls (null if its process did not start, which leaves
// the row empty), the processes that answer it (their trees' CPU time is charged to the row),
// and where its figures go.
struct Row {
  const CallFn* call;
  std::vector<pid_t> servers;
  std::optional<LoadStats>* out;
};

// How long each row is measured: `duration_s` per row at each concurrency, cut into `rounds`
// slices; `quick` shortens the warm-up (CTest's --quick run).
struct Slicing {
  double duration_s = 3.0;
  int rounds = 3;
  bool quick = false;
};

// All rows at one concurrency, in interleaved slices (A B C A B C ...), so that load from
// elsewhere on a shared machine falls on all of them alike and the ratios stay meaningful.
Status measure_rows(const std::vector<Row>& rows, int concurrency, const Slicing& slicing);

}  // namespace plugvisor::bench
