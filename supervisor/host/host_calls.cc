// The host.v1 methods: each admits the call (host_server.cc), converts the request, asks the
// service behind it and converts the answer. Nothing here decides a permission on its own.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "events/event_log.h"
#include "host/ai/ai_proxy.h"
#include "host/ai/usage_store.h"
#include "host/egress/egress.h"
#include "host/host_server.h"
#include "host/state/kv_store.h"
#include "plugvisor/common/host_names.h"

namespace plugvisor::host {

using hostcall::HostStatus;

namespace {

constexpr size_t kMaxEventPayloadBytes = 64 * 1024;

HostStatus missing(const void* service, const char* what) {
  if (service != nullptr) return {};
  return hostcall::unavailable(std::string(what) + " is not available in this supervisor");
}

std::optional<int64_t> expected(bool has, int64_t value) {
  return has ? std::optional<int64_t>(value) : std::nullopt;
}

void to_proto(const StateEntry& e, v1::StateEntry* out) {
  out->set_key(e.key);
  out->set_value(e.value);
  out->set_version(e.version);
  out->set_expires_at_unix_ms(e.expires_at_unix_ms);
}

void to_proto(const ChatMessage& m, v1::ChatMessage* out) {
  out->set_role(m.role);
  out->set_content(m.content);
  out->set_name(m.name);
  out->set_tool_call_id(m.tool_call_id);
  out->set_tool_calls_json(m.tool_calls_json);
}

struct LogLine {
  spdlog::level::level_enum level = spdlog::level::info;
  std::string text;
};

// One JSON object, like the SDK's stderr lines: the plugin's text is escaped, so it can never
// start a log line of its own, and the keys the supervisor vouches for win over same-named
// fields. Cut at the plugin's line_max_bytes, as its captured stderr is.
LogLine log_line(const v1::LogRequest& req, const CallScope& scope, size_t max_bytes) {
  LogLine out;
  std::string level_name = req.level();
  out.level = spdlog::level::from_str(level_name);
  if (out.level == spdlog::level::off) {
    out.level = spdlog::level::info;
    level_name = "info";
  }
  nlohmann::json line = nlohmann::json::object();
  for (const auto& [key, value] : req.fields()) line[key] = value;
  line["level"] = level_name;
  line["msg"] = req.message();
  if (scope.in_invocation()) {
    line["invocation_id"] = scope.invocation_id;
  } else {
    line.erase("invocation_id");
  }
  out.text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (out.text.size() > max_bytes) {
    out.text.resize(max_bytes);
    out.text += " [truncated]";
  }
  return out;
}

}  // namespace

grpc::Status HostServer::Log(grpc::ServerContext* ctx, const v1::LogRequest* req,
                             v1::LogResponse*) {
  // A finished invocation's token is still good here (InvocationRegistry::resolve).
  auto call = admit(*ctx, "Log", req->invocation_token(), false, /*finished_ok=*/true);
  HostStatus outcome;
  if (call) {
    // The same limits as the plugin's stderr, or Log would be a way around them.
    const auto& limits = call->plugin->logs;
    const auto& scope = call->scope;
    if (const auto refused = take_log_token(scope.plugin_id, limits); !refused) {
      outcome = hostcall::exhausted("log rate limit: " + std::to_string(limits.lines_per_second) +
                                    " lines/s; this line was dropped");
    } else {
      if (*refused > 0) {
        spdlog::warn("plugin={} stream=host.log | dropped {} log lines over the rate limit ({}/s)",
                     scope.plugin_id, *refused, limits.lines_per_second);
      }
      const auto line = log_line(*req, scope, limits.line_max_bytes);
      if (scope.in_invocation()) {
        spdlog::log(line.level, "plugin={} stream=host.log dispatch={} invocation={} | {}",
                    scope.plugin_id, scope.dispatch_id, scope.invocation_id, line.text);
      } else {
        spdlog::log(line.level, "plugin={} stream=host.log | {}", scope.plugin_id, line.text);
      }
    }
  }
  return finish(*ctx, "Log", call, outcome);
}

grpc::Status HostServer::StateGet(grpc::ServerContext* ctx, const v1::StateGetRequest* req,
                                  v1::StateGetResponse* resp) {
  auto call = admit(*ctx, "StateGet", req->invocation_token(), false);
  HostStatus outcome;
  if (call && (outcome = missing(services_.state, "state"))) {
    auto got = services_.state->get({call->scope.plugin_id, call->scope.tenant_id}, req->key());
    if (!got) {
      outcome = got.error();
    } else if (got->has_value()) {
      resp->set_found(true);
      to_proto(**got, resp->mutable_entry());
    }
  }
  return finish(*ctx, "StateGet", call, outcome);
}

grpc::Status HostServer::StatePut(grpc::ServerContext* ctx, const v1::StatePutRequest* req,
                                  v1::StatePutResponse* resp) {
  auto call = admit(*ctx, "StatePut", req->invocation_token(), false);
  HostStatus outcome;
  if (call && (outcome = missing(services_.state, "state"))) {
    auto put = services_.state->put(
        {call->scope.plugin_id, call->scope.tenant_id}, req->key(), req->value(),
        expected(req->has_expected_version(), req->expected_version()),
        std::chrono::milliseconds(req->ttl_ms()), call->plugin->permissions.state);
    if (!put) {
      outcome = put.error();
    } else {
      to_proto(*put, resp->mutable_entry());
    }
  }
  return finish(*ctx, "StatePut", call, outcome);
}

grpc::Status HostServer::StateDelete(grpc::ServerContext* ctx, const v1::StateDeleteRequest* req,
                                     v1::StateDeleteResponse* resp) {
  auto call = admit(*ctx, "StateDelete", req->invocation_token(), false);
  HostStatus outcome;
  if (call && (outcome = missing(services_.state, "state"))) {
    auto erased = services_.state->erase({call->scope.plugin_id, call->scope.tenant_id}, req->key(),
                                         expected(req->has_expected_version(), req->expected_version()));
    if (!erased) {
      outcome = erased.error();
    } else {
      resp->set_deleted(*erased);
    }
  }
  return finish(*ctx, "StateDelete", call, outcome);
}

grpc::Status HostServer::StateList(grpc::ServerContext* ctx, const v1::StateListRequest* req,
                                   v1::StateListResponse* resp) {
  auto call = admit(*ctx, "StateList", req->invocation_token(), false);
  HostStatus outcome;
  if (call && (outcome = missing(services_.state, "state"))) {
    auto page = services_.state->list({call->scope.plugin_id, call->scope.tenant_id}, req->prefix(),
                                      req->cursor(), req->limit(), req->include_values());
    if (!page) {
      outcome = page.error();
    } else {
      for (const auto& e : page->entries) to_proto(e, resp->add_entries());
      resp->set_next_cursor(page->next_cursor);
    }
  }
  return finish(*ctx, "StateList", call, outcome);
}

grpc::Status HostServer::Fetch(grpc::ServerContext* ctx, const v1::FetchRequest* req,
                               v1::FetchResponse* resp) {
  auto call = admit(*ctx, "Fetch", req->invocation_token(), true);
  HostStatus outcome;
  if (call && (outcome = missing(services_.egress, "HTTP egress"))) {
    FetchCall fetch{req->method().empty() ? "GET" : req->method(), req->url(), {}, req->body(),
                    std::chrono::milliseconds(req->timeout_ms())};
    for (const auto& h : req->headers()) fetch.headers.emplace_back(h.name(), h.value());
    auto got = services_.egress->fetch(call->plugin->permissions, fetch, call->deadline);
    if (!got) {
      outcome = got.error();
    } else {
      resp->set_status(static_cast<int32_t>(got->status));
      for (const auto& [name, value] : got->headers) {
        auto* h = resp->add_headers();
        h->set_name(name);
        h->set_value(value);
      }
      resp->set_body(got->body);
      resp->set_final_url(got->final_url);
      resp->set_redirects(got->redirects);
    }
  }
  return finish(*ctx, "Fetch", call, outcome);
}

grpc::Status HostServer::AiChat(grpc::ServerContext* ctx, const v1::AiChatRequest* req,
                                v1::AiChatResponse* resp) {
  auto call = admit(*ctx, "AiChat", req->invocation_token(), true);
  HostStatus outcome;
  if (call && (outcome = missing(services_.ai, "the AI proxy"))) {
    ChatCall chat;
    for (const auto& m : req->messages()) {
      chat.messages.push_back({m.role(), m.content(), m.name(), m.tool_call_id(), m.tool_calls_json()});
    }
    chat.tools_json = req->tools_json();
    chat.tool_choice_json = req->tool_choice_json();
    if (req->has_temperature()) chat.temperature = req->temperature();
    chat.max_tokens = req->max_tokens();
    auto got = services_.ai->chat(call->plugin->permissions.ai, chat, call->deadline);
    if (!got) {
      outcome = got.error();
    } else {
      to_proto(got->message, resp->mutable_message());
      resp->set_finish_reason(got->finish_reason);
      resp->set_model(got->model);
      resp->mutable_usage()->set_prompt_tokens(got->usage.prompt_tokens);
      resp->mutable_usage()->set_completion_tokens(got->usage.completion_tokens);
      resp->mutable_usage()->set_total_tokens(got->usage.total_tokens);
      resp->set_attempts(got->attempts);
      if (services_.usage != nullptr) {
        const CallScope& s = call->scope;
        UsageRecord rec{s.plugin_id,    s.plugin_version, s.tenant_id,     s.hook,
                        s.work_item_id, s.run_id,         s.invocation_id, got->model,
                        got->attempts,  got->usage};
        // The answer is already paid for: a lost usage row is logged, not the plugin's failure.
        if (auto st = services_.usage->record(rec); !st) {
          spdlog::error("plugin={} AI usage not recorded: {}", s.plugin_id, st.error().message);
        }
      }
    }
  }
  return finish(*ctx, "AiChat", call, outcome);
}

grpc::Status HostServer::Emit(grpc::ServerContext* ctx, const v1::EmitRequest* req,
                              v1::EmitResponse* resp) {
  auto call = admit(*ctx, "Emit", req->invocation_token(), true);
  HostStatus outcome;
  if (call) outcome = hostcall::check_event_name(call->scope.plugin_id, req->name());
  if (call && outcome && (outcome = missing(services_.events, "events"))) {
    nlohmann::json payload;
    if (req->payload_json().size() > kMaxEventPayloadBytes) {
      outcome = hostcall::exhausted("event payload is " + std::to_string(req->payload_json().size()) +
                                    " bytes; the limit is " + std::to_string(kMaxEventPayloadBytes));
    } else if (!req->payload_json().empty() &&
               (payload = nlohmann::json::parse(req->payload_json(), nullptr, false)).is_discarded()) {
      outcome = hostcall::invalid("event payload is not valid JSON");
    } else if (!take_emit_token(call->scope.plugin_id)) {
      outcome = hostcall::exhausted("too many events: the limit is " +
                                    std::to_string(services_.emits_per_second) + " per second");
    } else {
      const CallScope& s = call->scope;
      nlohmann::json detail = {{"payload", std::move(payload)},
                               {"attribution",
                                {{"plugin_id", s.plugin_id},
                                 {"plugin_version", s.plugin_version},
                                 {"tenant_id", s.tenant_id},
                                 {"work_item_id", s.work_item_id},
                                 {"run_id", s.run_id},
                                 {"dispatch_id", s.dispatch_id},
                                 {"invocation_id", s.invocation_id},
                                 {"hook", s.hook}}}};
      auto ev = services_.events->emit(s.plugin_id, req->name(), "", std::move(detail));
      resp->set_event_id(ev.id);
    }
  }
  return finish(*ctx, "Emit", call, outcome);
}

}  // namespace plugvisor::host
