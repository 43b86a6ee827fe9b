// host.v1 AiChat: the "thin host" AI proxy. Forwards a chat to the OpenAI-compatible
// /chat/completions endpoint the supervisor holds the key for, under the plugin's AiPolicy
// (allowed, model, default temperature, input size, retries with backoff on 429/5xx and
// transport errors, timeout), and reports the upstream's token usage.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "host/egress/secrets.h"
#include "host/http/http_client.h"

namespace plugvisor::host {

struct ChatMessage {
  std::string role;
  std::string content;
  std::string name;
  std::string tool_call_id;
  std::string tool_calls_json;
};

struct ChatCall {
  std::vector<ChatMessage> messages;
  std::string tools_json;
  std::string tool_choice_json;
  std::optional<double> temperature;
  uint32_t max_tokens = 0;
};

struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
};

struct ChatResult {
  ChatMessage message;
  std::string finish_reason;
  std::string model;
  TokenUsage usage;
  uint32_t attempts = 1;
};

class AiProxy {
 public:
  // The seam for backoff waits, so unit tests need not sleep. The default sleeps.
  using Sleeper = std::function<void(std::chrono::milliseconds)>;

  // `api_key` already loaded by the caller (from api_key_env / api_key_file).
  AiProxy(HttpClient& http, const SecretVault& secrets, config::AiUpstreamConfig upstream,
          std::string api_key, Sleeper sleeper = {});

  bool configured() const { return !upstream_.base_url.empty(); }

  // Not allowed by policy: permission_denied (permission "ai"). Input over max_input_bytes:
  // resource_exhausted. Upstream failure after the retries: unavailable, naming the upstream
  // status and its error message (secrets scrubbed).
  hostcall::HostResult<ChatResult> chat(const config::AiPolicy& policy, const ChatCall& call,
                                        std::chrono::steady_clock::time_point deadline) const;

 private:
  HttpClient& http_;
  const SecretVault& secrets_;
  config::AiUpstreamConfig upstream_;
  std::string api_key_;
  Sleeper sleeper_;
};

}  // namespace plugvisor::host
