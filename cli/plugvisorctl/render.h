// Turns admin.v1 / hooks.v1 messages and gRPC statuses into what plugvisorctl prints. Pure
// functions of their inputs (plus the local time zone), so the output format is unit-tested
// without a running plugvisord.
#pragma once

#include <grpcpp/support/status.h>

#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/admin/v1/admin.pb.h"
#include "plugvisor/hooks/v1/hooks.pb.h"

namespace plugvisor::cli {

namespace admin = ::plugvisor::admin::v1;
namespace hooks = ::plugvisor::hooks::v1;

// `status`: the plugin table, then the supervisor line.
std::string render_status(const admin::ListPluginsResponse& response);
std::string render_supervisor_line(const admin::SupervisorStatus& supervisor);

// `plugin get`: every PluginStatus field as aligned key: value lines, then its hook bindings.
std::string render_plugin(const admin::PluginStatus& plugin);

// `enable`/`disable`/`restart`: one line with the state the plugin ended up in.
std::string render_state_line(const admin::PluginStatus& plugin);

// `events`: one line per event; detail_json is re-printed compactly on the same line.
std::string render_event_line(const admin::Event& event);

// `receipts` and `dispatch`: TIME DISPATCH PLUGIN HOOK STATUS ERROR DURATION MUTATED.
std::string render_receipts(const google::protobuf::RepeatedPtrField<hooks::Receipt>& receipts);

// `dispatch`: the final data (pretty JSON), the block line if any, then the receipts.
std::string render_dispatch(const hooks::DispatchResponse& response);

// `doctor`: MECHANISM AVAILABLE REQUIRED DETAIL, then the problems (or "no problems").
std::string render_doctor(const admin::DoctorResponse& response);

// AI token usage, one row per group and a TOTAL row; group_by as requested (empty: the
// server's default of plugin, tenant, hook).
std::string render_usage(const admin::UsageResponse& response, const std::vector<std::string>& group_by);

// --json: the message in proto3's canonical JSON mapping on one line (what grpcurl prints),
// with zero-valued fields included so that scripts see a stable set of keys.
std::string to_json_line(const google::protobuf::Message& message);

// JSON text re-printed compactly (events) or indented by two (dispatch). Text that does not
// parse is returned unchanged: showing the server's bytes beats hiding them.
std::string compact_json(std::string_view text);
std::string pretty_json(std::string_view text);

// "NOT_FOUND", "UNAVAILABLE", ... as in grpc's own docs and grpcurl's output.
std::string_view status_code_name(grpc::StatusCode code);

// The one-line message for a failed RPC (without a trailing newline). UNAVAILABLE means two
// things: no connection at all, or plugvisord answering that something behind it (its
// database) is away. Only the first is "cannot reach"; connected tells them apart.
std::string render_rpc_error(std::string_view command, std::string_view address,
                             const grpc::Status& status, bool connected);

}  // namespace plugvisor::cli
