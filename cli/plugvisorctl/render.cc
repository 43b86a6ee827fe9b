#include "plugvisorctl/render.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "plugvisorctl/text.h"

namespace plugvisor::cli {

namespace {

// The ERROR cell of a receipt is a summary; the full message is in --json output.
constexpr std::size_t kErrorCellWidth = 60;

// Event lines stream out one at a time, so widths cannot come from content. These minimums
// keep the usual plugin ids and kinds aligned; longer values just push the line right.
constexpr std::size_t kEventPluginWidth = 16;
constexpr std::size_t kEventKindWidth = 14;
constexpr std::size_t kEventStateWidth = 12;

// p50/p99 of a plugin that has not been called yet are zeros, not measurements.
std::string latency_if_called(const admin::PluginStatus& p, uint64_t us) {
  return p.calls() == 0 ? "-" : format_latency_us(static_cast<int64_t>(us));
}

// Uptime is only meaningful while a process exists.
std::string uptime_of(const admin::PluginStatus& p) {
  return p.pid() > 0 ? format_duration_ms(p.uptime_ms()) : "-";
}

std::string pid_of(const admin::PluginStatus& p) {
  return p.pid() > 0 ? std::to_string(p.pid()) : "-";
}

std::string padded(std::string_view s, std::size_t width) {
  std::string out(s);
  const std::size_t w = display_width(s);
  if (w < width) out.append(width - w, ' ');
  return out;
}

std::string error_cell(const hooks::Receipt& r) {
  std::string cell = r.error_code();
  if (!r.error_message().empty()) {
    if (!cell.empty()) cell += ": ";
    cell += r.error_message();
  }
  return truncate_display(or_dash(cell), kErrorCellWidth);
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

}  // namespace

std::string render_status(const admin::ListPluginsResponse& response) {
  std::string out;
  if (response.plugins().empty()) {
    out = "no plugins configured\n";
  } else {
    Table table({{"PLUGIN"},
                 {"VERSION"},
                 {"STATE"},
                 {"PID", Align::kRight},
                 {"UPTIME", Align::kRight},
                 {"RESTARTS", Align::kRight},
                 {"CIRCUIT"},
                 {"CALLS", Align::kRight},
                 {"FAILURES", Align::kRight},
                 {"P99", Align::kRight}});
    for (const auto& p : response.plugins()) {
      table.add_row({p.id(), or_dash(p.version()), or_dash(p.state()), pid_of(p), uptime_of(p),
                     std::to_string(p.restarts()), or_dash(p.circuit()), std::to_string(p.calls()),
                     std::to_string(p.failures()), latency_if_called(p, p.p99_us())});
    }
    out = table.render();
  }
  if (response.has_supervisor()) out += "\n" + render_supervisor_line(response.supervisor());
  return out;
}

std::string render_supervisor_line(const admin::SupervisorStatus& s) {
  return fmt::format(
      "supervisor: plugvisord {}, up {}; database {} ({}); receipts {} queued, {} written, {} "
      "dropped\n",
      or_dash(s.version()), format_duration_ms(s.uptime_ms()),
      s.database_connected() ? "connected" : "DISCONNECTED", or_dash(s.database()),
      s.receipts_queued(), s.receipts_written(), s.receipts_dropped());
}

namespace {

std::string host_calls_of(const admin::PluginStatus& p) {
  // The map is unordered on the wire; sorted by method the line reads the same every time.
  std::map<std::string, uint64_t> sorted(p.host_calls().begin(), p.host_calls().end());
  std::string out;
  for (const auto& [method, n] : sorted) out += (out.empty() ? "" : ", ") + method + " " + std::to_string(n);
  return or_dash(out);
}

}  // namespace

std::string render_plugin(const admin::PluginStatus& p) {
  std::string out = render_fields({
      {"id", p.id()},
      {"version", or_dash(p.version())},
      {"state", or_dash(p.state())},
      {"enabled", p.enabled() ? "yes" : "no"},
      {"disabled reason", or_dash(p.disabled_reason())},
      {"pid", pid_of(p)},
      {"uptime", uptime_of(p)},
      {"restarts", std::to_string(p.restarts())},
      {"circuit", or_dash(p.circuit())},
      {"calls", std::to_string(p.calls())},
      {"failures", std::to_string(p.failures())},
      {"p50", latency_if_called(p, p.p50_us())},
      {"p99", latency_if_called(p, p.p99_us())},
      {"last error", or_dash(p.last_error())},
      {"executable", or_dash(p.executable())},
      {"sandbox", or_dash(p.sandbox())},
      {"host calls", host_calls_of(p)},
      {"denied calls", std::to_string(p.permission_denied())},
  });
  out += '\n';
  if (p.hooks().empty()) return out + "no hook bindings\n";
  Table table({{"HOOK"}, {"PRIORITY", Align::kRight}, {"POLICY"}, {"TIMEOUT", Align::kRight}});
  for (const auto& h : p.hooks()) {
    table.add_row({h.hook(), std::to_string(h.priority()), or_dash(h.fail_policy()),
                   fmt::format("{}ms", h.timeout_ms())});
  }
  return out + table.render();
}

std::string render_usage(const admin::UsageResponse& r, const std::vector<std::string>& group_by) {
  auto has = [&](const char* g) {
    return group_by.empty() ? std::string(g) != "model"
                            : std::find(group_by.begin(), group_by.end(), g) != group_by.end();
  };
  std::vector<Column> columns;
  if (has("plugin")) columns.push_back({"PLUGIN"});
  if (has("tenant")) columns.push_back({"TENANT"});
  if (has("hook")) columns.push_back({"HOOK"});
  if (has("model")) columns.push_back({"MODEL"});
  for (const char* c : {"CALLS", "PROMPT", "COMPLETION", "TOTAL"}) columns.push_back({c, Align::kRight});
  if (r.rows().empty()) return "no AI usage recorded\n";
  Table table(columns);
  auto add = [&](const admin::UsageRow& u, bool total) {
    std::vector<std::string> row;
    if (has("plugin")) row.push_back(total ? "TOTAL" : or_dash(u.plugin_id()));
    if (has("tenant")) row.push_back(total ? "" : or_dash(u.tenant_id()));
    if (has("hook")) row.push_back(total ? "" : or_dash(u.hook()));
    if (has("model")) row.push_back(total ? "" : or_dash(u.model()));
    for (uint64_t n : {u.calls(), u.prompt_tokens(), u.completion_tokens(), u.total_tokens()}) {
      row.push_back(std::to_string(n));
    }
    table.add_row(row);
  };
  for (const auto& u : r.rows()) add(u, false);
  add(r.total(), true);
  return table.render();
}

std::string render_doctor(const admin::DoctorResponse& r) {
  Table table({{"MECHANISM"}, {"AVAILABLE"}, {"REQUIRED"}, {"DETAIL"}});
  for (const auto& m : r.mechanisms()) {
    table.add_row({m.name(), m.available() ? "yes" : "NO", m.required() ? "yes" : "no",
                   or_dash(m.detail())});
  }
  std::string out = table.render() + '\n';
  if (r.problems().empty()) return out + "no problems\n";
  out += "problems:\n";
  for (const auto& p : r.problems()) out += "  - " + p + '\n';
  return out;
}

std::string render_state_line(const admin::PluginStatus& p) {
  std::string line = fmt::format("{}: {}", p.id(), or_dash(p.state()));
  if (p.pid() > 0) line += fmt::format(" (pid {})", p.pid());
  if (!p.enabled()) {
    line += p.disabled_reason().empty() ? ", disabled" : ", disabled: " + p.disabled_reason();
  }
  return line + '\n';
}

std::string render_event_line(const admin::Event& e) {
  std::string line = format_local_time(e.at_unix_ms());
  line += "  " + padded(or_dash(e.plugin_id()), kEventPluginWidth);
  line += "  " + padded(or_dash(e.kind()), kEventKindWidth);
  line += "  " + padded(or_dash(e.state()), kEventStateWidth);
  if (!e.detail_json().empty()) line += "  " + compact_json(e.detail_json());
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + '\n';
}

std::string render_receipts(const google::protobuf::RepeatedPtrField<hooks::Receipt>& receipts) {
  if (receipts.empty()) return "no receipts\n";
  Table table({{"TIME"},
               {"DISPATCH"},
               {"PLUGIN"},
               {"HOOK"},
               {"STATUS"},
               {"ERROR"},
               {"DURATION", Align::kRight},
               {"MUTATED"}});
  for (const auto& r : receipts) {
    // A skipped handler never ran, so a zero duration would be misleading.
    const bool ran = r.status() != "skipped";
    table.add_row({format_local_time(r.at_unix_ms()), or_dash(r.dispatch_id().substr(0, 8)),
                   or_dash(r.plugin_id()), or_dash(r.hook()), or_dash(r.status()), error_cell(r),
                   ran ? format_latency_us(r.duration_us()) : "-",
                   or_dash(join(r.mutated_paths()))});
  }
  return table.render();
}

std::string render_dispatch(const hooks::DispatchResponse& response) {
  std::string out = pretty_json(response.data_json()) + '\n';
  if (response.blocked()) {
    out += response.blocked_by().empty() ? fmt::format("blocked: {}\n", or_dash(response.reason()))
                                         : fmt::format("blocked by {}: {}\n", response.blocked_by(),
                                                       or_dash(response.reason()));
  }
  out += '\n';
  if (response.receipts().empty()) return out + "no handlers ran\n";
  return out + render_receipts(response.receipts());
}

std::string to_json_line(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing a well-formed message only fails on a broken descriptor pool; say so visibly.
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    return R"({"error":"cannot print message as JSON"})";
  }
  return out;
}

std::string compact_json(std::string_view text) {
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return doc.is_discarded() ? std::string(text) : doc.dump();
}

std::string pretty_json(std::string_view text) {
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return doc.is_discarded() ? std::string(text) : doc.dump(2);
}

std::string_view status_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "UNKNOWN";
  }
}

std::string render_rpc_error(std::string_view command, std::string_view address,
                             const grpc::Status& status, bool connected) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !connected) {
    return fmt::format("plugvisorctl: cannot reach plugvisord at {}: {}", address,
                       status.error_message());
  }
  return fmt::format("plugvisorctl: {}: {}: {}", command, status_code_name(status.error_code()),
                     status.error_message());
}

}  // namespace plugvisor::cli
