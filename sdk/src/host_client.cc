// HostApi over gRPC: each call is one unary host.v1 RPC carrying the invocation token, under the
// invocation's deadline. Errors come back as values; nothing here throws on a host's answer.
#include "host_client.h"

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <limits>

#include "log_line.h"
#include "log_sender.h"
#include "plugvisor/host/v1/host.grpc.pb.h"

namespace plugvisor::sdk::detail {
namespace {

namespace hv1 = ::plugvisor::host::v1;

// Fetch bodies are capped by the supervisor (8 MiB by default), above gRPC's 4 MiB default.
constexpr int kMaxMessageBytes = 64 << 20;

std::string dump(const Json& value) {
  // Invalid UTF-8 in a plugin's JSON must not become an exception on the way out.
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Empty text is "none" on the wire (proto3 has no null string).
std::string dump_or_empty(const Json& value) {
  return value.is_null() ? std::string() : dump(value);
}

HostResult<Json> parse_or_null(const std::string& text, const char* what) {
  if (text.empty()) return Json();
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return HostError{HostCode::internal, std::string("the host sent invalid JSON as ") + what};
  }
  return parsed;
}

StateEntry from_proto(const hv1::StateEntry& e) {
  return {e.key(), e.value(), e.version(), e.expires_at_unix_ms()};
}

HeaderList from_proto(const google::protobuf::RepeatedPtrField<hv1::Header>& headers) {
  HeaderList out;
  out.reserve(static_cast<size_t>(headers.size()));
  for (const auto& h : headers) out.emplace_back(h.name(), h.value());
  return out;
}

void to_proto(const ChatMessage& m, hv1::ChatMessage& out) {
  out.set_role(m.role);
  out.set_content(m.content);
  out.set_name(m.name);
  out.set_tool_call_id(m.tool_call_id);
  out.set_tool_calls_json(dump_or_empty(m.tool_calls));
}

HostResult<ChatMessage> from_proto(const hv1::ChatMessage& m) {
  auto tool_calls = parse_or_null(m.tool_calls_json(), "tool_calls_json");
  if (!tool_calls) return tool_calls.error();
  return ChatMessage{m.role(), m.content(), m.name(), m.tool_call_id(), std::move(*tool_calls)};
}

uint32_t clamp_ms(std::chrono::milliseconds ms) {
  if (ms.count() <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(ms.count(), std::numeric_limits<uint32_t>::max()));
}

class GrpcHost final : public HostApi {
 public:
  explicit GrpcHost(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)),
        stub_(hv1::Host::NewStub(channel_)),
        logs_(
            [this](const hv1::LogRequest& req, std::chrono::system_clock::time_point deadline) {
              grpc::ClientContext ctx;
              ctx.set_deadline(deadline);
              hv1::LogResponse resp;
              return stub_->Log(&ctx, req, &resp);
            },
            [](const LogRecord& record) { write_stderr_line(format_log_line(record)); },
            LogSender::Limits{}) {}

  HostResult<void> log(const HostCall& call, LogRecord record) override {
    return logs_.log(call, std::move(record));
  }

  HostResult<std::optional<StateEntry>> state_get(const HostCall& call,
                                                  const std::string& key) override {
    hv1::StateGetRequest req;
    req.set_invocation_token(call.invocation_token);
    req.set_key(key);
    hv1::StateGetResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx, call);
    if (auto st = stub_->StateGet(&ctx, req, &resp); !st.ok()) return host_error(st);
    if (!resp.found()) return std::optional<StateEntry>();
    return std::optional<StateEntry>(from_proto(resp.entry()));
  }

  HostResult<StateEntry> state_put(const HostCall& call, const std::string& key,
                                   const std::string& value, const PutOptions& options) override {
    if (options.ttl.count() < 0) return HostError{HostCode::invalid_argument, "negative ttl"};
    hv1::StatePutRequest req;
    req.set_invocation_token(call.invocation_token);
    req.set_key(key);
    req.set_value(value);
    if (options.expected_version) req.set_expected_version(*options.expected_version);
    req.set_ttl_ms(static_cast<uint64_t>(options.ttl.count()));
    hv1::StatePutResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx, call);
    if (auto st = stub_->StatePut(&ctx, req, &resp); !st.ok()) return host_error(st);
    return from_proto(resp.entry());
  }

  HostResult<bool> state_erase(const HostCall& call, const std::string& key,
                               std::optional<int64_t> expected_version) override {
    hv1::StateDeleteRequest req;
    req.set_invocation_token(call.invocation_token);
    req.set_key(key);
    if (expected_version) req.set_expected_version(*expected_version);
    hv1::StateDeleteResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx, call);
    if (auto st = stub_->StateDelete(&ctx, req, &resp); !st.ok()) return host_error(st);
    return resp.deleted();
  }

  HostResult<StatePage> state_list(const HostCall& call, const std::string& prefix,
                                   const ListOptions& options) override {
    hv1::StateListRequest req;
    req.set_invocation_token(call.invocation_token);
    req.set_prefix(prefix);
    req.set_cursor(options.cursor);
    req.set_limit(options.limit);
    req.set_include_values(options.include_values);
    hv1::StateListResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx, call);
    if (auto st = stub_->StateList(&ctx, req, &resp); !st.ok()) return host_error(st);
    StatePage page;
    page.entries.reserve(static_cast<size_t>(resp.entries_size()));
    for (const auto& e : resp.entries()) page.entries.push_back(from_proto(e));
    page.next_cursor = resp.next_cursor();
    return page;
  }

  HostResult<FetchResponse> fetch(const HostCall& call, const FetchRequest& request) override {
    hv1::FetchRequest req;
    req.set_invocation_token(call.invocation_token);
    req.set_method(request.method);
    req.set_url(request.url);
    for (const auto& [name, value] : request.headers) {
      auto* h = req.add_headers();
      h->set_name(name);
      h->set_value(value);
    }
    req.set_body(request.body);
    req.set_timeout_ms(clamp_ms(request.timeout));
    hv1::FetchResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx, call);
    if (auto st = stub_->Fetch(&ctx, req, &resp); !st.ok()) return host_error(st);
    return FetchResponse{resp.status(), from_proto(resp.headers()), resp.body(), resp.final_url(),
                         resp.redirects()};
  }

  HostResult<ChatResponse> ai_chat(const HostCall& call, const ChatRequest& request) override {
    hv1::AiChatRequest req;
    req.set_invocation_token(call.invocation_token);
    for (const auto& m : request.messages) to_proto(m, *req.add_messages());
    req.set_tools_json(dump_or_empty(request.tools));
    req.set_tool_choice_json(dump_or_empty(request.tool_choice));
    if (request.temperature) req.set_temperature(*request.temperature);
    req.set_max_tokens(request.max_tokens);
    hv1::AiChatResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx, call);
    if (auto st = stub_->AiChat(&ctx, req, &resp); !st.ok()) return host_error(st);
    auto message = from_proto(resp.message());
    if (!message) return message.error();
    const auto& u = resp.usage();
    return ChatResponse{std::move(*message), resp.finish_reason(), resp.model(),
                        TokenUsage{u.prompt_tokens(), u.completion_tokens(), u.total_tokens()},
                        resp.attempts()};
  }

  HostResult<std::string> emit(const HostCall& call, const std::string& name,
                               const Json& payload) override {
    hv1::EmitRequest req;
    req.set_invocation_token(call.invocation_token);
    req.set_name(name);
    req.set_payload_json(dump_or_empty(payload));
    hv1::EmitResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx, call);
    if (auto st = stub_->Emit(&ctx, req, &resp); !st.ok()) return host_error(st);
    return resp.event_id();
  }

 private:
  static void prepare(grpc::ClientContext& ctx, const HostCall& call) {
    ctx.set_deadline(host_call_deadline(call.deadline, std::chrono::steady_clock::now(),
                                        std::chrono::system_clock::now()));
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hv1::Host::Stub> stub_;
  LogSender logs_;  // last: its thread uses stub_, so it must stop first
};

HostCode host_code(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return HostCode::ok;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return HostCode::invalid_argument;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return HostCode::deadline_exceeded;
    case grpc::StatusCode::NOT_FOUND:
      return HostCode::not_found;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return HostCode::permission_denied;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return HostCode::resource_exhausted;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return HostCode::failed_precondition;
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::ALREADY_EXISTS:
      return HostCode::aborted;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
      return HostCode::internal;
    // A supervisor without a service is, for this plugin, a host that does not offer it.
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::UNIMPLEMENTED:
      return HostCode::unavailable;
    default:
      return HostCode::unknown;
  }
}

}  // namespace

HostError host_error(const grpc::Status& status) {
  const HostCode code = host_code(status.error_code());
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return {code, "the supervisor does not offer this host service: " + status.error_message()};
  }
  return {code, status.error_message()};
}

std::chrono::system_clock::time_point host_call_deadline(
    std::chrono::steady_clock::time_point deadline,
    std::chrono::steady_clock::time_point steady_now,
    std::chrono::system_clock::time_point system_now) {
  using namespace std::chrono;
  // Compared as durations from now, so a "no deadline" (time_point::max) cannot overflow.
  auto left = deadline > steady_now ? deadline - steady_now : steady_clock::duration::zero();
  left = std::min<steady_clock::duration>(left, kMaxHostCallTime);
  return system_now + duration_cast<system_clock::duration>(left);
}

std::shared_ptr<HostApi> connect_host(int fd) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return std::make_shared<GrpcHost>(grpc::CreateCustomInsecureChannelFromFd("host", fd, args));
}

}  // namespace plugvisor::sdk::detail
