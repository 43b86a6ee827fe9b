#include "service.h"

#include <algorithm>
#include <exception>
#include <limits>

namespace plugvisor::sdk::detail {
namespace {

using grpc::Status;
using grpc::StatusCode;

pb::FailPolicy to_proto(FailPolicy policy) {
  return policy == FailPolicy::fail_closed ? pb::FAIL_CLOSED : pb::FAIL_OPEN;
}

std::string versions_text(const google::protobuf::RepeatedField<uint32_t>& versions) {
  std::string out = "[";
  for (int i = 0; i < versions.size(); ++i) out += (i ? ", " : "") + std::to_string(versions[i]);
  return out + "]";
}

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The last line of defence around a service method: gRPC must never see an exception.
template <typename F>
Status guarded(const char* method, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return Status(StatusCode::INTERNAL, std::string("plugvisor sdk: ") + method + ": " + e.what());
  } catch (...) {
    return Status(StatusCode::INTERNAL, std::string("plugvisor sdk: ") + method + " failed");
  }
}

}  // namespace

std::chrono::steady_clock::time_point handler_deadline(
    std::chrono::system_clock::time_point grpc_deadline, uint32_t timeout_ms,
    std::chrono::system_clock::time_point system_now,
    std::chrono::steady_clock::time_point steady_now) {
  using namespace std::chrono;
  // A call without a deadline reports system_clock's max; anything beyond a day is treated as
  // "no deadline" too, which also keeps the arithmetic below from overflowing.
  constexpr auto kFar = hours(24);
  auto deadline = steady_clock::time_point::max();
  if (grpc_deadline != system_clock::time_point::max() && grpc_deadline - system_now < kFar) {
    deadline = steady_now + duration_cast<steady_clock::duration>(grpc_deadline - system_now);
  }
  if (timeout_ms > 0) deadline = std::min(deadline, steady_now + milliseconds(timeout_ms));
  return deadline;
}

Status PluginService::Describe(const pb::DescribeRequest& request, pb::DescribeResponse& response) {
  return guarded("Describe", [&] { return describe(request, response); });
}

Status PluginService::describe(const pb::DescribeRequest& request, pb::DescribeResponse& response) {
  if (lifecycle_.stopping()) return Status(StatusCode::UNAVAILABLE, "plugin is shutting down");

  uint32_t chosen = 0;
  for (uint32_t mine : kProtocolVersions) {
    const auto& theirs = request.supported_protocol_versions();
    if (std::find(theirs.begin(), theirs.end(), mine) != theirs.end())
      chosen = std::max(chosen, mine);
  }
  if (chosen == 0) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "no common plugin protocol version: supervisor speaks " +
                      versions_text(request.supported_protocol_versions()) + ", plugin " +
                      plugin_.id() + " (plugvisor sdk) speaks [1]");
  }

  Json settings = Json::object();
  if (!request.settings_json().empty()) {
    settings = Json::parse(request.settings_json(), nullptr, /*allow_exceptions=*/false);
    if (settings.is_discarded() || !settings.is_object()) {
      return Status(StatusCode::INVALID_ARGUMENT,
                    "settings_json for plugin " + plugin_.id() + " is not a JSON object");
    }
  }

  {
    std::lock_guard lock(configure_mu_);
    if (configured_settings_) {
      // Handlers may be running with the current settings; changing them under their feet
      // would be a data race, so a new configuration needs a new process.
      if (*configured_settings_ != settings) {
        return Status(StatusCode::FAILED_PRECONDITION,
                      "plugin " + plugin_.id() +
                          " is already configured with other settings; restart it to change them");
      }
    } else {
      try {
        plugin_.configure(settings);
      } catch (const std::exception& e) {
        return Status(StatusCode::INVALID_ARGUMENT,
                      "plugin " + plugin_.id() + " rejected its settings: " + e.what());
      } catch (...) {
        return Status(StatusCode::INVALID_ARGUMENT,
                      "plugin " + plugin_.id() + " rejected its settings");
      }
      configured_settings_ = std::move(settings);
      configured_.store(true, std::memory_order_release);
    }
  }

  response.set_protocol_version(chosen);
  response.set_plugin_id(plugin_.id());
  response.set_plugin_version(plugin_.version());
  for (const auto& reg : plugin_.registrations()) {
    auto* hook = response.add_hooks();
    hook->set_hook(reg.hook);
    hook->set_priority(reg.options.priority);
    hook->set_fail_policy(to_proto(reg.options.fail_policy));
  }
  return Status::OK;
}

Status PluginService::Invoke(const grpc::ServerContext& context, std::function<bool()> cancelled,
                             const pb::InvokeRequest& request, pb::InvokeResponse& response) {
  return guarded("Invoke",
                 [&] { return invoke(context, std::move(cancelled), request, response); });
}

Status PluginService::invoke(const grpc::ServerContext& context, std::function<bool()> cancelled,
                             const pb::InvokeRequest& request, pb::InvokeResponse& response) {
  // The ticket keeps this invocation listed by InFlight until the handler has returned.
  auto ticket = lifecycle_.admit(request.context().invocation_id());
  if (!ticket) return Status(StatusCode::UNAVAILABLE, "plugin is shutting down");
  if (!configured_.load(std::memory_order_acquire)) {
    return Status(StatusCode::FAILED_PRECONDITION, "Invoke before a successful Describe");
  }
  const auto* reg = plugin_.find(request.hook());
  if (reg == nullptr) {
    return Status(StatusCode::UNIMPLEMENTED,
                  "plugin " + plugin_.id() + " has no handler for hook " + request.hook());
  }
  const Json data = Json::parse(request.data_json(), nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded()) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "data_json of hook " + request.hook() + " is not valid JSON");
  }

  const auto& c = request.context();
  Context::Ids ids{request.hook(),
                   c.invocation_id(),
                   c.dispatch_id(),
                   c.tenant_id(),
                   c.work_item_id(),
                   c.run_id(),
                   {c.attributes().begin(), c.attributes().end()}};
  const auto deadline =
      handler_deadline(context.deadline(), request.timeout_ms(), std::chrono::system_clock::now(),
                       std::chrono::steady_clock::now());
  Context handler_context(std::move(ids), deadline, cancelled, &plugin_.settings(),
                          Context::Host{plugin_.host(), c.invocation_token()});

  Result result;
  std::optional<Status> thrown;
  try {
    result = reg->handler(handler_context, data);
  } catch (const std::exception& e) {
    thrown = Status(StatusCode::UNKNOWN, std::string("handler threw: ") + e.what());
  } catch (...) {
    thrown = Status(StatusCode::UNKNOWN, "handler threw a non-standard exception");
  }
  // An answer given after the deadline is a timeout, whatever the handler made of it (typically
  // Result::fail("cancelled") from a cooperative handler). Without this the code the supervisor
  // sees would depend on whether its deadline timer or our late answer arrives first.
  if (std::chrono::steady_clock::now() >= deadline) {
    return Status(StatusCode::DEADLINE_EXCEEDED, "the handler answered after its deadline");
  }
  if (cancelled && cancelled())
    return Status(StatusCode::CANCELLED, "the caller cancelled the call");
  if (thrown) return *thrown;
  if (result.failure()) return Status(StatusCode::UNKNOWN, *result.failure());
  if (result.blocked()) {
    response.set_decision(pb::BLOCK);
    response.set_reason(result.reason());
    return Status::OK;
  }
  response.set_decision(pb::CONTINUE);
  if (result.merge_patch()) response.set_patch_json(dump(*result.merge_patch()));
  return Status::OK;
}

Status PluginService::Shutdown(const pb::ShutdownRequest& request) {
  return guarded("Shutdown", [&] {
    // Answer at once; run() drains and stops the server, which cannot happen inside a call.
    // grace_ms 0 is proto3's "unset", so it means the default rather than "abandon everything".
    const auto grace =
        request.grace_ms() > 0 ? std::chrono::milliseconds(request.grace_ms()) : kDefaultGrace;
    lifecycle_.request_stop(grace, "Shutdown RPC");
    lifecycle_.answering_while_stopping();
    return Status::OK;
  });
}

Status PluginService::InFlight(pb::InFlightResponse& response) {
  return guarded("InFlight", [&] {
    for (auto& id : lifecycle_.in_flight()) response.add_invocation_ids(std::move(id));
    return Status::OK;
  });
}

}  // namespace plugvisor::sdk::detail
