#include "api/convert.h"

namespace plugvisor::api {

void to_proto(const dispatch::Receipt& r, plugvisor::hooks::v1::Receipt* out) {
  out->set_dispatch_id(r.dispatch_id);
  out->set_plugin_id(r.plugin_id);
  out->set_plugin_version(r.plugin_version);
  out->set_hook(r.hook);
  out->set_status(r.status);
  out->set_error_code(std::string(dispatch::to_string(r.error)));
  out->set_error_message(r.error_message);
  out->set_duration_us(r.duration.count());
  out->set_tenant_id(r.tenant_id);
  out->set_work_item_id(r.work_item_id);
  out->set_run_id(r.run_id);
  for (const auto& p : r.mutated_paths) out->add_mutated_paths(p);
  out->set_at_unix_ms(r.at_unix_ms);
  out->set_fail_policy(std::string(dispatch::to_string(r.fail_policy)));
}

void to_proto(const process::PluginSnapshot& s, plugvisor::admin::v1::PluginStatus* out) {
  out->set_id(s.id);
  out->set_version(s.version);
  out->set_state(std::string(process::to_string(s.state)));
  out->set_pid(s.pid);
  out->set_uptime_ms(s.uptime_ms);
  out->set_restarts(s.restarts);
  out->set_circuit(std::string(guard::to_string(s.circuit)));
  out->set_calls(s.calls);
  out->set_failures(s.failures);
  out->set_p50_us(s.p50_us);
  out->set_p99_us(s.p99_us);
  out->set_enabled(s.enabled);
  out->set_disabled_reason(s.disabled_reason);
  out->set_last_error(s.last_error);
  out->set_executable(s.executable);
  out->set_sandbox(s.sandbox);
  for (const auto& h : s.hooks) {
    auto* b = out->add_hooks();
    b->set_hook(h.hook);
    b->set_priority(h.priority);
    b->set_fail_policy(std::string(dispatch::to_string(h.fail_policy)));
    b->set_timeout_ms(static_cast<uint32_t>(h.timeout.count()));
  }
}

void to_proto(const store::EventRecord& e, plugvisor::admin::v1::Event* out) {
  out->set_id(e.id);
  out->set_at_unix_ms(e.at_unix_ms);
  out->set_plugin_id(e.plugin_id);
  out->set_kind(e.kind);
  out->set_state(e.state);
  out->set_detail_json(e.detail.dump());
}

}  // namespace plugvisor::api
