#include "rows.h"

#include <utility>

#include "process_cpu.h"

namespace plugvisor::bench {
namespace {

namespace hv1 = plugvisor::hooks::v1;
namespace pv1 = plugvisor::plugin::v1;
using std::chrono::duration;
using std::chrono::nanoseconds;

// ~150 bytes, the size of a small tool call; every row sends the same document.
const char* const kPayload =
    R"({"tool":"shell","arguments":{"command":"ls -la /var/log","cwd":"/home/agent/project"},)"
    R"("session_id":"bench-session-0001","user":"agent@example.com"})";

std::chrono::system_clock::time_point call_deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

// Adds after - before to a running total, which becomes nullopt for good once a reading fails.
template <typename T>
void accumulate(std::optional<T>& total, const Result<T>& before, const Result<T>& after) {
  if (total && before && after) {
    *total += *after - *before;
  } else {
    total.reset();
  }
}

}  // namespace

CallFn invoke_call(pv1::Plugin::Stub& stub, const char* what) {
  auto req = std::make_shared<pv1::InvokeRequest>();
  req->set_hook("tool.pre_exec");
  req->set_data_json(kPayload);
  req->set_timeout_ms(1500);
  auto* ctx = req->mutable_context();
  ctx->set_invocation_id("0123456789abcdef.0");
  ctx->set_dispatch_id("0123456789abcdef");
  ctx->set_tenant_id("bench");
  ctx->set_work_item_id("wi-1");
  ctx->set_run_id("run-1");
  return [&stub, req, what]() -> std::string {
    grpc::ClientContext ctx;
    ctx.set_deadline(call_deadline());
    pv1::InvokeResponse resp;
    const grpc::Status s = stub.Invoke(&ctx, *req, &resp);
    return s.ok() ? std::string() : std::string(what) + " Invoke: " + s.error_message();
  };
}

CallFn dispatch_call(hv1::Hooks::Stub& stub) {
  auto req = std::make_shared<hv1::DispatchRequest>();
  req->set_hook("tool.pre_exec");
  req->set_data_json(kPayload);
  req->mutable_context()->set_tenant_id("bench");
  req->mutable_context()->set_work_item_id("wi-1");
  req->mutable_context()->set_run_id("run-1");
  return [&stub, req]() -> std::string {
    grpc::ClientContext ctx;
    ctx.set_deadline(call_deadline());
    hv1::DispatchResponse resp;
    const grpc::Status s = stub.Dispatch(&ctx, *req, &resp);
    if (!s.ok()) return "Dispatch: " + s.error_message();
    if (resp.blocked() || resp.receipts_size() != 1 || resp.receipts(0).status() != "ok") {
      return "Dispatch did not reach the plugin: " + resp.ShortDebugString();
    }
    return {};
  };
}

Status measure_rows(const std::vector<Row>& rows, int concurrency, const Slicing& o) {
  const auto warmup = std::chrono::milliseconds(o.quick ? 100 : 500);
  const auto slice =
      std::chrono::duration_cast<nanoseconds>(duration<double>(o.duration_s) / o.rounds);
  for (const Row& row : rows) {
    if (row.call == nullptr) continue;
    if (auto w = run_load(*row.call, concurrency, warmup); !w) return w.error();
  }
  std::vector<std::vector<LoadSample>> samples(rows.size());
  // Per row: CPU time of its servers over its slices; nullopt once /proc could not be read.
  std::vector<std::optional<nanoseconds>> cpu(rows.size(), nanoseconds{0});
  std::vector<std::optional<uint64_t>> switches(rows.size(), uint64_t{0});
  for (int round = 0; round < o.rounds; ++round) {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].call == nullptr) continue;
      const auto cpu_before = tree_cpu_time(rows[i].servers);
      const auto switches_before = machine_context_switches();
      auto s = run_load(*rows[i].call, concurrency, slice);
      if (!s) return s.error();
      const auto switches_after = machine_context_switches();
      const auto cpu_after = tree_cpu_time(rows[i].servers);
      accumulate(cpu[i], cpu_before, cpu_after);
      accumulate(switches[i], switches_before, switches_after);
      samples[i].push_back(std::move(*s));
    }
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].call == nullptr) continue;
    LoadStats stats = summarise(concurrency, samples[i]);
    if (stats.calls > 0) {
      const auto calls = static_cast<double>(stats.calls);
      if (cpu[i]) stats.server_cpu_us = duration<double, std::micro>(*cpu[i]).count() / calls;
      if (switches[i]) stats.switches_per_call = static_cast<double>(*switches[i]) / calls;
    }
    *rows[i].out = stats;
  }
  return {};
}

}  // namespace plugvisor::bench
