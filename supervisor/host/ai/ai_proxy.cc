#include "host/ai/ai_proxy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <utility>

namespace plugvisor::host {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How much of an upstream error body reaches the plugin: enough to diagnose, never a dump.
constexpr size_t kDetailBytes = 200;
// nlohmann::json parses iteratively but dumps recursively: a value nested deeply enough would
// overflow the stack of the thread serving the call. No real chat request nests this deep.
constexpr int kMaxJsonDepth = 128;
// Stands in for the API key should the vault not know it (the caller adds it as hidden; this
// is the second line of defence).
constexpr std::string_view kKeyMark = "[secret:ai_api_key]";

// Removes every secret value, and the API key in particular, from text bound for a plugin.
struct Scrubber {
  const SecretVault& vault;
  const std::string& api_key;

  std::string operator()(std::string text) const {
    text = vault.scrub(std::move(text));
    if (api_key.empty()) return text;
    for (size_t at = text.find(api_key); at != std::string::npos;
         at = text.find(api_key, at + kKeyMark.size())) {
      text.replace(at, api_key.size(), kKeyMark);
    }
    return text;
  }
};

bool too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// Parses untrusted JSON text; nullopt when it is not JSON or nests too deeply.
std::optional<json> parse_json(const std::string& text) {
  if (too_deep(text)) return std::nullopt;
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

// Invalid UTF-8 becomes U+FFFD instead of an exception escaping into the gRPC thread.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Cuts at a UTF-8 character boundary, so the status message stays valid text.
std::string truncated(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text + "...";
}

std::string attempts_text(uint32_t n) {
  return std::to_string(n) + (n == 1 ? " attempt" : " attempts");
}

bool known_role(const std::string& role) {
  return role == "system" || role == "user" || role == "assistant" || role == "tool";
}

hostcall::HostResult<json> build_messages(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) return hostcall::invalid("messages: at least one message is required");
  json out = json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!known_role(m.role)) {
      return hostcall::invalid(at + ": role \"" + truncated(m.role, 32) +
                               "\" is not one of system, user, assistant, tool");
    }
    if (m.role == "tool" && m.tool_call_id.empty()) {
      return hostcall::invalid(at + ": a tool message needs tool_call_id");
    }
    json msg = {{"role", m.role}};
    if (!m.tool_calls_json.empty()) {
      auto calls = parse_json(m.tool_calls_json);
      if (!calls || !calls->is_array()) {
        return hostcall::invalid(at + ": tool_calls_json is not a JSON array");
      }
      msg["tool_calls"] = std::move(*calls);
    }
    // An assistant turn that only calls tools has null content; some servers reject "".
    if (m.content.empty() && msg.contains("tool_calls")) {
      msg["content"] = nullptr;
    } else {
      msg["content"] = m.content;
    }
    if (!m.name.empty()) msg["name"] = m.name;
    if (!m.tool_call_id.empty()) msg["tool_call_id"] = m.tool_call_id;
    out.push_back(std::move(msg));
  }
  return out;
}

hostcall::HostResult<std::string> build_body(const config::AiPolicy& policy,
                                             const config::AiUpstreamConfig& upstream,
                                             const ChatCall& call) {
  auto messages = build_messages(call.messages);
  if (!messages.ok()) return messages.error();
  json body = json::object();
  const std::string& model = policy.model.empty() ? upstream.model : policy.model;
  if (!model.empty()) body["model"] = model;
  body["messages"] = std::move(*messages);
  if (!call.tools_json.empty()) {
    auto tools = parse_json(call.tools_json);
    if (!tools || !tools->is_array()) return hostcall::invalid("tools_json is not a JSON array");
    body["tools"] = std::move(*tools);
  }
  if (!call.tool_choice_json.empty()) {
    auto choice = parse_json(call.tool_choice_json);
    if (!choice) return hostcall::invalid("tool_choice_json is not JSON");
    body["tool_choice"] = std::move(*choice);
  }
  if (const auto t = call.temperature ? call.temperature : policy.temperature) {
    // JSON has no NaN or infinity; nlohmann would silently send null.
    if (!std::isfinite(*t)) return hostcall::invalid("temperature is not a finite number");
    body["temperature"] = *t;
  }
  if (call.max_tokens > 0) body["max_tokens"] = call.max_tokens;
  return dump(body);
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Retry-After in delay-seconds; an HTTP-date is not honoured (the exponential backoff applies).
std::optional<milliseconds> retry_after(const HeaderList& headers, milliseconds cap) {
  for (const auto& [name, raw] : headers) {
    if (!iequals(name, "retry-after")) continue;
    std::string_view value = raw;
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
      value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
      value.remove_suffix(1);
    uint64_t seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (end != value.data() + value.size() || value.empty()) return std::nullopt;
    if (ec == std::errc::result_out_of_range) return cap;
    if (ec != std::errc()) return std::nullopt;
    if (seconds >= static_cast<uint64_t>(cap.count()) / 1000 + 1) return cap;
    return std::min(milliseconds(static_cast<int64_t>(seconds) * 1000), cap);
  }
  return std::nullopt;
}

// Delay before retry `retry` (1-based): initial, doubled per retry, capped.
milliseconds backoff(const config::AiPolicy& policy, uint32_t retry) {
  milliseconds delay = policy.backoff_initial;
  for (uint32_t i = 1; i < retry && delay < policy.backoff_max; ++i) delay *= 2;
  return std::max(std::min(delay, policy.backoff_max), milliseconds(0));
}

// The upstream's own explanation: OpenAI's {"error": {"message"}}, a bare {"error": "..."},
// or else the start of the body.
std::string upstream_detail(const std::string& body, const Scrubber& scrub) {
  std::string detail = body;
  if (auto doc = parse_json(body); doc && doc->is_object()) {
    if (auto error = doc->find("error"); error != doc->end()) {
      if (error->is_string()) {
        detail = error->get<std::string>();
      } else if (error->is_object()) {
        auto message = error->find("message");
        if (message != error->end() && message->is_string()) detail = message->get<std::string>();
      }
    }
  }
  if (detail.empty()) return body.empty() ? "(empty body)" : "(no message)";
  // Scrubbed before the cut, so a cut cannot leave a prefix of a secret behind.
  return truncated(scrub(std::move(detail)), kDetailBytes);
}

// An attempt that did not succeed.
struct Failure {
  bool retryable = false;
  long status = 0;     // 0: the request never got an HTTP answer
  std::string detail;  // scrubbed
  std::optional<milliseconds> retry_after;
  hostcall::HostError error;  // the answer when this failure ends the call

  std::string describe() const {
    return status == 0 ? "unreachable: " + detail
                       : "answered " + std::to_string(status) + ": " + detail;
  }
};

Failure from_response(const HttpResponse& response, const config::AiPolicy& policy,
                      const Scrubber& scrub) {
  Failure f;
  f.status = response.status;
  f.detail = upstream_detail(response.body, scrub);
  const std::string status = std::to_string(response.status);
  if (response.status == 429 || (response.status >= 500 && response.status <= 599)) {
    f.retryable = true;
    f.retry_after = retry_after(response.headers, policy.backoff_max);
  } else if (response.status == 400 || response.status == 422) {
    f.error = hostcall::invalid("AI upstream rejected the request: " + status + ": " + f.detail);
  } else {
    // 401/403/404 and the like are the operator's configuration, not the plugin's request.
    f.error = hostcall::unavailable("AI upstream refused the request: " + status + ": " + f.detail);
  }
  return f;
}

Failure from_transport(const hostcall::HostError& error, const Scrubber& scrub) {
  Failure f;
  f.detail = truncated(scrub(error.message), 2 * kDetailBytes);
  f.retryable =
      error.code == hostcall::Code::unavailable || error.code == hostcall::Code::deadline_exceeded;
  // An oversized answer or a malformed base_url: retrying cannot help.
  f.error = hostcall::unavailable("AI upstream: " + f.detail);
  return f;
}

hostcall::HostError out_of_time(uint32_t attempts, const std::optional<Failure>& last) {
  if (attempts == 0 || !last) {
    return hostcall::deadline(
        "AI upstream: the invocation's deadline passed before the first attempt");
  }
  return hostcall::deadline("AI upstream: the invocation's deadline leaves no time after " +
                            attempts_text(attempts) + "; last " + last->describe());
}

hostcall::HostError retries_spent(uint32_t attempts, const Failure& last) {
  if (last.status == 0) {
    return hostcall::unavailable("AI upstream unreachable after " + attempts_text(attempts) + ": " +
                                 last.detail);
  }
  return hostcall::unavailable("AI upstream answered " + std::to_string(last.status) + " after " +
                               attempts_text(attempts) + ": " + last.detail);
}

const json* member(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

std::string string_or(const json& object, const char* name, std::string fallback) {
  const json* value = member(object, name);
  return value != nullptr && value->is_string() ? value->get<std::string>() : fallback;
}

int64_t int_or_zero(const json& object, const char* name) {
  const json* value = member(object, name);
  return value != nullptr && value->is_number_integer() ? value->get<int64_t>() : 0;
}

hostcall::HostResult<ChatResult> parse_answer(const std::string& body, const Scrubber& scrub) {
  auto unreadable = [&](const std::string& why) {
    return hostcall::unavailable("AI upstream sent an unreadable answer: " + why);
  };
  const auto doc = parse_json(body);
  if (!doc) return unreadable("not JSON: " + truncated(scrub(body), kDetailBytes));
  const json* choices = member(*doc, "choices");
  if (choices == nullptr || !choices->is_array() || choices->empty()) {
    return unreadable("no choices");
  }
  const json& choice = (*choices)[0];
  const json* message = member(choice, "message");
  if (message == nullptr || !message->is_object()) return unreadable("choices[0] has no message");

  ChatResult result;
  result.message.role = string_or(*message, "role", "assistant");
  if (const json* content = member(*message, "content"); content != nullptr) {
    if (content->is_string()) {
      result.message.content = scrub(content->get<std::string>());
    } else if (!content->is_null()) {
      return unreadable("choices[0].message.content is neither a string nor null");
    }
  }
  if (const json* calls = member(*message, "tool_calls"); calls != nullptr && !calls->is_null()) {
    if (!calls->is_array()) return unreadable("choices[0].message.tool_calls is not an array");
    result.message.tool_calls_json = scrub(dump(*calls));
  }
  result.finish_reason = string_or(choice, "finish_reason", "");
  result.model = string_or(*doc, "model", "");
  if (const json* usage = member(*doc, "usage"); usage != nullptr) {
    result.usage.prompt_tokens = int_or_zero(*usage, "prompt_tokens");
    result.usage.completion_tokens = int_or_zero(*usage, "completion_tokens");
    result.usage.total_tokens = int_or_zero(*usage, "total_tokens");
  }
  return result;
}

}  // namespace

AiProxy::AiProxy(HttpClient& http, const SecretVault& secrets, config::AiUpstreamConfig upstream,
                 std::string api_key, Sleeper sleeper)
    : http_(http),
      secrets_(secrets),
      upstream_(std::move(upstream)),
      api_key_(std::move(api_key)),
      sleeper_(sleeper ? std::move(sleeper)
                       : Sleeper([](milliseconds d) { std::this_thread::sleep_for(d); })) {}

hostcall::HostResult<ChatResult> AiProxy::chat(const config::AiPolicy& policy, const ChatCall& call,
                                               Clock::time_point deadline) const {
  if (!configured()) return hostcall::unavailable("no AI upstream is configured (ai.base_url)");
  if (!policy.allowed) {
    return hostcall::denied("ai", "chat", "the plugin's permissions do not allow the AI proxy");
  }
  auto body = build_body(policy, upstream_, call);
  if (!body.ok()) return body.error();
  if (body->size() > policy.max_input_bytes) {
    return hostcall::exhausted("AI request is " + std::to_string(body->size()) +
                               " bytes as sent upstream, over the plugin's limit of " +
                               std::to_string(policy.max_input_bytes) + " (ai.max_input_bytes)");
  }

  std::string base = upstream_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  HttpRequest request;
  request.method = "POST";
  request.url = base + "/chat/completions";
  request.headers = {{"content-type", "application/json"}};
  if (!api_key_.empty()) request.headers.emplace_back("authorization", "Bearer " + api_key_);
  request.body = std::move(*body);

  const Scrubber scrub{secrets_, api_key_};
  auto time_left = [&] {
    const auto now = Clock::now();
    return now >= deadline ? milliseconds(0) : std::chrono::floor<milliseconds>(deadline - now);
  };
  std::optional<Failure> last;
  for (uint32_t attempt = 1;; ++attempt) {
    const milliseconds left = time_left();
    if (left <= milliseconds(0)) return out_of_time(attempt - 1, last);
    // A zero timeout would mean "none" to the transport.
    request.timeout = policy.timeout > milliseconds(0) ? std::min(policy.timeout, left) : left;

    auto response = http_.perform(request);
    if (response.ok() && response->status >= 200 && response->status <= 299) {
      auto result = parse_answer(response->body, scrub);
      if (!result.ok()) return hostcall::unavailable(scrub(result.error().message));
      result->attempts = attempt;
      return result;
    }
    Failure failure = response.ok() ? from_response(*response, policy, scrub)
                                    : from_transport(response.error(), scrub);
    if (!failure.retryable) {
      failure.error.message = scrub(std::move(failure.error.message));
      return failure.error;
    }
    last = std::move(failure);
    if (time_left() <= milliseconds(0)) return out_of_time(attempt, last);
    if (attempt > policy.max_retries) return retries_spent(attempt, *last);
    const milliseconds wait = last->retry_after.value_or(backoff(policy, attempt));
    // Waiting until (or past) the deadline would only end in a deadline error later.
    if (wait >= time_left()) return out_of_time(attempt, last);
    spdlog::debug("ai proxy: attempt {} {}; retrying in {} ms", attempt, last->describe(),
                  wait.count());
    sleeper_(wait);
  }
}

}  // namespace plugvisor::host
