// FakeHost's insides: one mutex-guarded in-memory host shared by every connection and Ticket.
// Each host.v1 method takes the caller's plugin id (its "connection") and the call, and returns
// the supervisor's answer; the checks themselves are common/'s, shared with the supervisor.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "plugvisor/common/egress_rules.h"
#include "plugvisor/common/finished_tokens.h"
#include "plugvisor/common/host_error.h"
#include "plugvisor/sdk/testing.h"

namespace plugvisor::sdk::testing {

struct FakeHost::Impl {
  struct Stored {
    std::string value;
    int64_t version = 0;
    int64_t expires_at_unix_ms = 0;
  };
  // (plugin, tenant) -> key -> entry; tenant "" is the plugin's own state.
  using Scoped = std::map<std::pair<std::string, std::string>, std::map<std::string, Stored>>;

  // --- host.v1, for the plugin `caller` -------------------------------------------------------
  HostResult<std::optional<StateEntry>> state_get(const std::string& caller, const HostCall& call,
                                                  const std::string& key);
  HostResult<StateEntry> state_put(const std::string& caller, const HostCall& call,
                                   const std::string& key, const std::string& value,
                                   const PutOptions& options);
  HostResult<bool> state_erase(const std::string& caller, const HostCall& call,
                               const std::string& key, std::optional<int64_t> expected_version);
  HostResult<StatePage> state_list(const std::string& caller, const HostCall& call,
                                   const std::string& prefix, const ListOptions& options);
  HostResult<FetchResponse> fetch(const std::string& caller, const HostCall& call,
                                  const FetchRequest& request);
  HostResult<ChatResponse> ai_chat(const std::string& caller, const HostCall& call,
                                   const ChatRequest& request);
  HostResult<std::string> emit(const std::string& caller, const HostCall& call,
                               const std::string& name, const Json& payload);
  HostResult<void> log(const std::string& caller, const HostCall& call, LogRecord record);
  // The lines logged for one invocation, in order.
  std::vector<LoggedLine> logs_of(const std::string& invocation_id) const;

  // --- helpers, called with mu held -----------------------------------------------------------
  // The scope a call is for, as the supervisor's invocation registry resolves it. Fetch, AI and
  // events need an invocation; state also accepts the empty token (the plugin's own scope).
  // `finished_ok` (Log only), as the supervisor's: a token revoked within FinishedTokens::kGrace
  // is still good (see plugvisor/common/finished_tokens.h).
  hostcall::HostResult<Scope> resolve(const std::string& caller, const HostCall& call,
                                      bool needs_invocation, const char* what,
                                      bool finished_ok = false) const;
  // Called when a Ticket goes: the token moves to `finished`, oldest entries leave.
  void revoke(const std::string& token);
  // Converts, and records a denial, as the supervisor does for every permission_denied.
  HostError fail(const std::string& caller, const hostcall::HostError& error);
  int64_t now_unix_ms() const;
  // The live entry, dropping it if it has expired.
  Stored* find_live(const Scope& scope, const std::string& key);
  std::string scrub(std::string text) const;

  mutable std::mutex mu;
  std::vector<egress::NetworkRule> rules;
  std::map<std::string, std::string> secrets;
  bool ai_allowed = false;
  StateQuota quota;
  std::map<std::string, FetchResponse> fetch_answers;  // by normalised URL
  FetchHandler fetch_handler;
  std::deque<ChatResponse> chat_script;
  ChatHandler chat_handler;
  std::chrono::milliseconds clock_offset{0};

  std::map<std::string, Scope> tokens;
  uint64_t next_token = 0;
  FinishedTokens<Scope> finished;  // revoked tokens still good for Log, as in plugvisord
  Scoped state;
  uint64_t next_event = 0;

  std::vector<Denial> denials;
  std::vector<SentFetch> fetches;
  std::vector<SentChat> chats;
  std::vector<EmittedEvent> events;
  std::vector<LoggedLine> logs;
};

}  // namespace plugvisor::sdk::testing
