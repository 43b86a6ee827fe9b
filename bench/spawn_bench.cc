#include "spawn_bench.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "child.h"
#include "load.h"
#include "plugvisor/plugin/v1/plugin.grpc.pb.h"

namespace plugvisor::bench {

namespace {

namespace pv1 = plugvisor::plugin::v1;
using std::chrono::steady_clock;

// What plugvisord passes (supervisor/process/plugin_process.cc, plugin_environment).
std::vector<std::string> plugin_environment() {
  return {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PLUGVISOR_PLUGIN_ID=noop",
          "PLUGVISOR_PROTOCOL_VERSIONS=1"};
}

grpc::Status first_call(pv1::Plugin::Stub& stub, bool describe) {
  grpc::ClientContext ctx;
  // The plugin is still loading its libraries; queue the call rather than fail it meanwhile.
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  if (describe) {
    pv1::DescribeRequest req;
    req.add_supported_protocol_versions(1);
    req.set_supervisor_version("bench");
    req.set_settings_json("{}");
    pv1::DescribeResponse resp;
    return stub.Describe(&ctx, req, &resp);
  }
  pv1::InvokeRequest req;
  req.set_hook("tool.pre_exec");
  req.set_data_json("{}");
  pv1::InvokeResponse resp;
  return stub.Invoke(&ctx, req, &resp);
}

// Shutdown RPC, then wait; a process that does not go in time is SIGKILLed with its group.
void stop(PluginChild& child, pv1::Plugin::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pv1::ShutdownRequest req;
  req.set_grace_ms(1000);
  pv1::ShutdownResponse resp;
  const bool asked = stub.Shutdown(&ctx, req, &resp).ok();
  if (!asked || !child.process.wait_for(std::chrono::seconds(5))) child.process.kill_and_reap();
}

Result<int64_t> one_sample(const SpawnTarget& target, const std::string& log_path) {
  const auto t0 = steady_clock::now();
  auto child = spawn_plugin_child({target.argv, plugin_environment(), log_path});
  if (!child) return child.error();
  auto stub = pv1::Plugin::NewStub(child->channel);
  const grpc::Status status = first_call(*stub, target.first_call_is_describe);
  const auto t1 = steady_clock::now();
  if (!status.ok()) {
    return Error{target.name + ": first call failed: " + status.error_message() +
                 "\n--- log ---\n" + tail_of_file(log_path, 2000)};
  }
  stop(*child, *stub);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
}

}  // namespace

Result<SpawnSamples> measure_spawn(const SpawnTarget& baseline, const SpawnTarget& plugin,
                                   int samples, const std::string& log_path) {
  SpawnSamples out;
  for (int i = -1; i < samples; ++i) {
    if (g_interrupted) return Error{"interrupted"};
    auto b = one_sample(baseline, log_path);
    if (!b) return b.error();
    auto p = one_sample(plugin, log_path);
    if (!p) return p.error();
    if (i < 0) continue;  // the warm-up pair
    out.baseline_ns.push_back(*b);
    out.plugin_ns.push_back(*p);
  }
  return out;
}

}  // namespace plugvisor::bench
