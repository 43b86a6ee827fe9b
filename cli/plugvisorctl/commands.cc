#include "plugvisorctl/commands.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>

#include "plugvisor/admin/v1/admin.grpc.pb.h"
#include "plugvisor/hooks/v1/hooks.grpc.pb.h"
#include "plugvisorctl/args.h"
#include "plugvisorctl/interrupt.h"
#include "plugvisorctl/render.h"

namespace plugvisor::cli {

namespace {

// Room on top of --budget-ms for the two hops and the host's bookkeeping, so that a long
// budget is not cut short by the default client deadline.
constexpr double kDispatchOverheadS = 1.0;

std::shared_ptr<grpc::Channel> open_channel(const GlobalOptions& global) {
  // The target string is passed through: gRPC itself understands host:port and unix:/path.
  return grpc::CreateChannel(global.address, grpc::InsecureChannelCredentials());
}

void set_timeout(grpc::ClientContext& context, double seconds) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::duration<double>(seconds)));
}

// The channel is READY after a failed call only if the server itself sent the status.
int report(Io& io, const GlobalOptions& global, std::string_view command,
           const grpc::Status& status, grpc::Channel& channel) {
  const bool connected = channel.GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
  io.err << render_rpc_error(command, global.address, status, connected) << '\n';
  return kExitError;
}

// One unary admin.v1 call under the global timeout: `call(stub, context)` makes it. Returns the
// exit code of a failure (already reported), or nullopt when the call succeeded.
template <typename Call>
std::optional<int> admin_call(const GlobalOptions& global, Io& io, std::string_view command,
                              Call&& call) {
  auto channel = open_channel(global);
  auto stub = admin::Admin::NewStub(channel);
  grpc::ClientContext context;
  set_timeout(context, global.timeout_s);
  if (grpc::Status s = call(*stub, &context); !s.ok()) return report(io, global, command, s, *channel);
  return std::nullopt;
}

std::string_view action_name(PluginAction action) {
  switch (action) {
    case PluginAction::kEnable:
      return "enable";
    case PluginAction::kDisable:
      return "disable";
    case PluginAction::kRestart:
      return "restart";
  }
  return "?";
}

}  // namespace

int cmd_status(const GlobalOptions& global, Io& io) {
  admin::ListPluginsResponse response;
  if (auto failed = admin_call(global, io, "status", [&](auto& stub, auto* ctx) {
        return stub.ListPlugins(ctx, {}, &response);
      })) {
    return *failed;
  }
  io.out << (global.json ? to_json_line(response) + '\n' : render_status(response));
  return kExitOk;
}

namespace {

// Which plugins keep `wait` waiting; empty when all are settled.
std::string not_ready(const admin::ListPluginsResponse& status, const WaitOptions& options,
                      bool* hopeless) {
  std::string laggards;
  for (const auto& p : status.plugins()) {
    if (!options.plugin_id.empty() && p.id() != options.plugin_id) continue;
    if (p.state() == "ready" || (!p.enabled() && options.plugin_id.empty())) continue;
    if (p.state() == "failed") *hopeless = true;
    laggards += "  " + p.id() + ": " + p.state() +
                (p.last_error().empty() ? "" : " (" + p.last_error() + ")") + "\n";
  }
  if (!options.plugin_id.empty() && status.plugins_size() > 0 && laggards.empty()) {
    bool known = std::any_of(status.plugins().begin(), status.plugins().end(),
                             [&](const auto& p) { return p.id() == options.plugin_id; });
    if (!known) {
      *hopeless = true;
      laggards = "  " + options.plugin_id + ": no such plugin\n";
    }
  }
  return laggards;
}

}  // namespace

int cmd_wait(const GlobalOptions& global, Io& io, const WaitOptions& options) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                      std::chrono::duration<double>(options.for_s));
  auto channel = open_channel(global);
  if (!channel->WaitForConnected(deadline)) {
    io.err << "plugvisorctl: wait: plugvisord at " << global.address << " did not answer within "
           << options.for_s << " s\n";
    return kExitError;
  }
  auto stub = admin::Admin::NewStub(channel);
  // Follow events so each state change wakes us, instead of polling on a timer.
  grpc::ClientContext watch;
  watch.set_deadline(deadline);
  admin::WatchEventsRequest request;
  request.set_plugin_id(options.plugin_id);
  request.set_follow(true);
  auto stream = stub->WatchEvents(&watch, request);
  std::string laggards;
  for (;;) {
    grpc::ClientContext context;
    set_timeout(context, global.timeout_s);
    admin::ListPluginsResponse status;
    if (auto s = stub->ListPlugins(&context, {}, &status); !s.ok()) {
      return report(io, global, "wait", s, *channel);
    }
    bool hopeless = false;
    laggards = not_ready(status, options, &hopeless);
    if (laggards.empty()) {
      watch.TryCancel();
      io.out << "plugvisord is ready\n";
      return kExitOk;
    }
    if (hopeless) break;
    admin::Event event;
    if (!stream->Read(&event)) break;
  }
  watch.TryCancel();
  io.err << "plugvisorctl: wait: not ready:\n" << laggards;
  return kExitError;
}

int cmd_doctor(const GlobalOptions& global, Io& io) {
  admin::DoctorResponse response;
  if (auto failed = admin_call(global, io, "doctor", [&](auto& stub, auto* ctx) {
        return stub.Doctor(ctx, {}, &response);
      })) {
    return *failed;
  }
  io.out << (global.json ? to_json_line(response) + '\n' : render_doctor(response));
  return response.problems().empty() ? kExitOk : kExitError;
}

int cmd_plugin_get(const GlobalOptions& global, Io& io, const std::string& id) {
  admin::PluginRequest request;
  request.set_id(id);
  admin::PluginResponse response;
  if (auto failed = admin_call(global, io, "plugin get", [&](auto& stub, auto* ctx) {
        return stub.GetPlugin(ctx, request, &response);
      })) {
    return *failed;
  }
  io.out << (global.json ? to_json_line(response) + '\n' : render_plugin(response.plugin()));
  return kExitOk;
}

int cmd_plugin_action(const GlobalOptions& global, Io& io, PluginAction action,
                      const std::string& id) {
  admin::PluginRequest request;
  request.set_id(id);
  admin::PluginResponse response;
  if (auto failed = admin_call(global, io, action_name(action), [&](auto& stub, auto* ctx) {
        switch (action) {
          case PluginAction::kEnable:
            return stub.Enable(ctx, request, &response);
          case PluginAction::kDisable:
            return stub.Disable(ctx, request, &response);
          case PluginAction::kRestart:
            break;
        }
        return stub.Restart(ctx, request, &response);
      })) {
    return *failed;
  }
  io.out << (global.json ? to_json_line(response) + '\n' : render_state_line(response.plugin()));
  return kExitOk;
}

int cmd_events(const GlobalOptions& global, Io& io, const EventsOptions& options) {
  // Before the channel, so that gRPC's threads inherit the blocked SIGINT/SIGTERM.
  InterruptCanceller canceller;
  auto channel = open_channel(global);
  auto stub = admin::Admin::NewStub(channel);
  grpc::ClientContext context;
  // A followed stream runs until Ctrl-C; a replay-only one is bounded like a unary call.
  if (!options.follow) set_timeout(context, global.timeout_s);
  admin::WatchEventsRequest request;
  request.set_plugin_id(options.plugin_id);
  request.set_kind_prefix(options.kind_prefix);
  request.set_replay(options.replay);
  request.set_follow(options.follow);

  auto reader = stub->WatchEvents(&context, request);
  canceller.arm(&context);
  admin::Event event;
  while (reader->Read(&event)) {
    // Flushed per event: `events --follow | grep` must see lines as they happen.
    io.out << (global.json ? to_json_line(event) + '\n' : render_event_line(event)) << std::flush;
  }
  const grpc::Status s = reader->Finish();
  canceller.arm(nullptr);
  if (canceller.interrupted()) return kExitOk;  // Ctrl-C is how --follow is meant to end
  if (!s.ok()) return report(io, global, "events", s, *channel);
  return kExitOk;
}

int cmd_receipts(const GlobalOptions& global, Io& io, const ReceiptsOptions& options) {
  admin::ListReceiptsRequest request;
  request.set_plugin_id(options.plugin_id);
  request.set_hook(options.hook);
  request.set_dispatch_id(options.dispatch_id);
  request.set_limit(options.limit);
  request.set_cursor(options.cursor);
  admin::ListReceiptsResponse response;
  if (auto failed = admin_call(global, io, "receipts", [&](auto& stub, auto* ctx) {
        return stub.ListReceipts(ctx, request, &response);
      })) {
    return *failed;
  }
  if (global.json) {
    io.out << to_json_line(response) << '\n';
    return kExitOk;
  }
  io.out << render_receipts(response.receipts());
  if (!response.next_cursor().empty())
    io.out << "next: --cursor " << response.next_cursor() << '\n';
  return kExitOk;
}

int cmd_dispatch(const GlobalOptions& global, Io& io, const DispatchOptions& options) {
  auto data = read_data_argument(options.data, io.in);
  if (!data) {
    io.err << "plugvisorctl: dispatch: " << data.error().message << '\n';
    return kExitUsage;
  }
  hooks::DispatchRequest request;
  request.set_hook(options.hook);
  request.set_data_json(std::move(data).value());
  request.set_budget_ms(options.budget_ms);
  auto* ctx = request.mutable_context();
  ctx->set_tenant_id(options.tenant_id);
  ctx->set_work_item_id(options.work_item_id);
  ctx->set_run_id(options.run_id);

  auto channel = open_channel(global);
  auto stub = hooks::Hooks::NewStub(channel);
  grpc::ClientContext context;
  set_timeout(context, std::max(global.timeout_s, options.budget_ms / 1000.0 + kDispatchOverheadS));
  hooks::DispatchResponse response;
  if (auto s = stub->Dispatch(&context, request, &response); !s.ok()) {
    return report(io, global, "dispatch", s, *channel);
  }
  io.out << (global.json ? to_json_line(response) + '\n' : render_dispatch(response));
  return response.blocked() ? kExitBlocked : kExitOk;
}

int cmd_usage(const GlobalOptions& global, Io& io, const UsageOptions& options) {
  admin::UsageRequest request;
  for (const auto& g : options.group_by) request.add_group_by(g);
  request.set_plugin_id(options.plugin_id);
  request.set_tenant_id(options.tenant_id);
  admin::UsageResponse response;
  if (auto failed = admin_call(global, io, "usage", [&](auto& stub, auto* ctx) {
        return stub.Usage(ctx, request, &response);
      })) {
    return *failed;
  }
  io.out << (global.json ? to_json_line(response) + '\n' : render_usage(response, options.group_by));
  return kExitOk;
}

}  // namespace plugvisor::cli
