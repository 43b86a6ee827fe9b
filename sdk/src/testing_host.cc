// FakeHost: configuration, records, connections, invocation tokens, the AI proxy and events.
// State and Fetch are in testing_state.cc and testing_fetch.cc.
#include "testing_host.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "log_line.h"
#include "plugvisor/common/host_names.h"

namespace plugvisor::sdk::testing {
namespace {

HostCode to_sdk(hostcall::Code code) {
  switch (code) {
    case hostcall::Code::invalid_argument:
      return HostCode::invalid_argument;
    case hostcall::Code::deadline_exceeded:
      return HostCode::deadline_exceeded;
    case hostcall::Code::not_found:
      return HostCode::not_found;
    case hostcall::Code::permission_denied:
      return HostCode::permission_denied;
    case hostcall::Code::resource_exhausted:
      return HostCode::resource_exhausted;
    case hostcall::Code::failed_precondition:
      return HostCode::failed_precondition;
    case hostcall::Code::aborted:
      return HostCode::aborted;
    case hostcall::Code::internal:
      return HostCode::internal;
    case hostcall::Code::unavailable:
      return HostCode::unavailable;
  }
  return HostCode::unknown;
}

// The plugin's end of the host: what the Harness gives a plugin as its fd 4.
class Connection final : public HostApi {
 public:
  Connection(std::shared_ptr<FakeHost::Impl> impl, std::string plugin_id)
      : impl_(std::move(impl)), plugin_id_(std::move(plugin_id)) {}

  HostResult<std::optional<StateEntry>> state_get(const HostCall& call,
                                                  const std::string& key) override {
    return impl_->state_get(plugin_id_, call, key);
  }
  HostResult<StateEntry> state_put(const HostCall& call, const std::string& key,
                                   const std::string& value, const PutOptions& options) override {
    return impl_->state_put(plugin_id_, call, key, value, options);
  }
  HostResult<bool> state_erase(const HostCall& call, const std::string& key,
                               std::optional<int64_t> expected_version) override {
    return impl_->state_erase(plugin_id_, call, key, expected_version);
  }
  HostResult<StatePage> state_list(const HostCall& call, const std::string& prefix,
                                   const ListOptions& options) override {
    return impl_->state_list(plugin_id_, call, prefix, options);
  }
  HostResult<FetchResponse> fetch(const HostCall& call, const FetchRequest& request) override {
    return impl_->fetch(plugin_id_, call, request);
  }
  HostResult<ChatResponse> ai_chat(const HostCall& call, const ChatRequest& request) override {
    return impl_->ai_chat(plugin_id_, call, request);
  }
  HostResult<std::string> emit(const HostCall& call, const std::string& name,
                               const Json& payload) override {
    return impl_->emit(plugin_id_, call, name, payload);
  }
  HostResult<void> log(const HostCall& call, LogRecord record) override {
    return impl_->log(plugin_id_, call, std::move(record));
  }

 private:
  std::shared_ptr<FakeHost::Impl> impl_;
  std::string plugin_id_;
};

std::string random_hex() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

// ---- Impl: the parts every host.v1 method shares ----------------------------------------------

hostcall::HostResult<FakeHost::Scope> FakeHost::Impl::resolve(const std::string& caller,
                                                              const HostCall& call,
                                                              bool needs_invocation,
                                                              const char* what,
                                                              bool finished_ok) const {
  if (call.invocation_token.empty()) {
    if (needs_invocation) {
      return hostcall::denied("invocation_token", "(none)",
                              std::string(what) + " is only allowed for an invocation in flight");
    }
    return Scope{caller, {}, {}};
  }
  auto it = tokens.find(call.invocation_token);
  if (it == tokens.end() && finished_ok) {
    if (const Scope* done = finished.find(call.invocation_token);
        done != nullptr && done->plugin_id == caller) {
      return *done;
    }
  }
  // One message for unknown, revoked and another plugin's tokens, as the supervisor's: a
  // caller learns nothing about other plugins' invocations.
  if (it == tokens.end() || it->second.plugin_id != caller) {
    return hostcall::denied("invocation_token", "(token)",
                            "not an invocation in flight (unknown, finished or forged)");
  }
  return it->second;
}

void FakeHost::Impl::revoke(const std::string& token) {
  auto node = tokens.extract(token);
  if (node.empty()) return;
  finished.add(std::move(node.key()), std::move(node.mapped()));
}

HostError FakeHost::Impl::fail(const std::string& caller, const hostcall::HostError& error) {
  if (error.code == hostcall::Code::permission_denied) {
    denials.push_back({caller, error.permission, error.target, error.message});
  }
  return {to_sdk(error.code), error.message};
}

int64_t FakeHost::Impl::now_unix_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch() + clock_offset).count();
}

std::string FakeHost::Impl::scrub(std::string text) const {
  // Longest values first, so a secret containing another is replaced whole.
  std::vector<std::pair<std::string, std::string>> by_length(secrets.begin(), secrets.end());
  std::sort(by_length.begin(), by_length.end(),
            [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  for (const auto& [name, value] : by_length) {
    if (value.empty()) continue;
    const std::string mark = "[secret:" + name + "]";
    for (size_t at = text.find(value); at != std::string::npos;
         at = text.find(value, at + mark.size())) {
      text.replace(at, value.size(), mark);
    }
  }
  return text;
}

// ---- AI and events ------------------------------------------------------------------------------

HostResult<ChatResponse> FakeHost::Impl::ai_chat(const std::string& caller, const HostCall& call,
                                                 const ChatRequest& request) {
  ChatHandler handler;
  {
    std::lock_guard lock(mu);
    auto scope = resolve(caller, call, /*needs_invocation=*/true, "AiChat");
    if (!scope) return fail(caller, scope.error());
    if (!ai_allowed) {
      return fail(caller,
                  hostcall::denied("ai", "chat", "the plugin's permissions do not allow AI"));
    }
    chats.push_back({caller, scope->tenant_id, request});
    if (!chat_script.empty()) {
      ChatResponse next = std::move(chat_script.front());
      chat_script.pop_front();
      return next;
    }
    handler = chat_handler;
  }
  // Outside the lock: the test's handler may well look at the host itself.
  if (handler) return handler(request);
  return HostError{HostCode::unavailable,
                   "FakeHost has no scripted AI answer (script_chat() or on_chat())"};
}

HostResult<std::string> FakeHost::Impl::emit(const std::string& caller, const HostCall& call,
                                             const std::string& name, const Json& payload) {
  std::lock_guard lock(mu);
  auto scope = resolve(caller, call, /*needs_invocation=*/true, "Emit");
  if (!scope) return fail(caller, scope.error());
  if (auto named = hostcall::check_event_name(caller, name); !named) {
    return fail(caller, named.error());
  }
  std::string id = "evt-" + std::to_string(++next_event);
  events.push_back({id, caller, scope->tenant_id, scope->invocation_id, name, payload});
  return id;
}

HostResult<void> FakeHost::Impl::log(const std::string& caller, const HostCall& call,
                                     LogRecord record) {
  {
    std::lock_guard lock(mu);
    // Log needs no invocation, but a token it is given must be good, as everywhere else.
    auto scope = resolve(caller, call, /*needs_invocation=*/false, "Log", /*finished_ok=*/true);
    if (!scope) return fail(caller, scope.error());
    record.invocation_id = scope->invocation_id;
    logs.push_back({caller, scope->tenant_id, scope->invocation_id, record.level, record.message,
                    record.fields});
  }
  // Outside the lock: stderr may be slow, and it is only for the test's output.
  detail::write_stderr_line(detail::format_log_line(record));
  return {};
}

std::vector<LoggedLine> FakeHost::Impl::logs_of(const std::string& invocation_id) const {
  std::lock_guard lock(mu);
  std::vector<LoggedLine> out;
  for (const auto& line : logs) {
    if (line.invocation_id == invocation_id) out.push_back(line);
  }
  return out;
}

// ---- FakeHost -----------------------------------------------------------------------------------

FakeHost::FakeHost() : impl_(std::make_shared<Impl>()) {}

FakeHost& FakeHost::allow_network(const std::string& rule) {
  auto parsed = egress::parse_rule(rule);
  if (!parsed) {
    throw std::invalid_argument("FakeHost: bad network rule \"" + rule +
                                "\": " + parsed.error().message);
  }
  std::lock_guard lock(impl_->mu);
  impl_->rules.push_back(std::move(*parsed));
  return *this;
}

FakeHost& FakeHost::declare_secret(const std::string& name, std::string value) {
  std::lock_guard lock(impl_->mu);
  impl_->secrets[name] = std::move(value);
  return *this;
}

FakeHost& FakeHost::allow_ai(bool allowed) {
  std::lock_guard lock(impl_->mu);
  impl_->ai_allowed = allowed;
  return *this;
}

FakeHost& FakeHost::set_state_quota(StateQuota quota) {
  std::lock_guard lock(impl_->mu);
  impl_->quota = quota;
  return *this;
}

FakeHost& FakeHost::on_fetch(const std::string& url, FetchResponse response) {
  auto target = egress::parse_target(url);
  std::lock_guard lock(impl_->mu);
  impl_->fetch_answers[target ? target->url : url] = std::move(response);
  return *this;
}

FakeHost& FakeHost::on_fetch(FetchHandler handler) {
  std::lock_guard lock(impl_->mu);
  impl_->fetch_handler = std::move(handler);
  return *this;
}

FakeHost& FakeHost::script_chat(ChatResponse response) {
  std::lock_guard lock(impl_->mu);
  impl_->chat_script.push_back(std::move(response));
  return *this;
}

FakeHost& FakeHost::on_chat(ChatHandler handler) {
  std::lock_guard lock(impl_->mu);
  impl_->chat_handler = std::move(handler);
  return *this;
}

FakeHost& FakeHost::advance_clock(std::chrono::milliseconds by) {
  std::lock_guard lock(impl_->mu);
  impl_->clock_offset += by;
  return *this;
}

std::vector<Denial> FakeHost::denials() const {
  std::lock_guard lock(impl_->mu);
  return impl_->denials;
}

std::vector<SentFetch> FakeHost::fetches() const {
  std::lock_guard lock(impl_->mu);
  return impl_->fetches;
}

std::vector<SentChat> FakeHost::chats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->chats;
}

std::vector<EmittedEvent> FakeHost::events() const {
  std::lock_guard lock(impl_->mu);
  return impl_->events;
}

std::vector<LoggedLine> FakeHost::logs() const {
  std::lock_guard lock(impl_->mu);
  return impl_->logs;
}

std::vector<LoggedLine> FakeHost::logs_of(const std::string& invocation_id) const {
  return impl_->logs_of(invocation_id);
}

std::optional<StateEntry> FakeHost::peek_state(const std::string& plugin_id,
                                               const std::string& tenant_id,
                                               const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  const auto* found = impl_->find_live({plugin_id, tenant_id, {}}, key);
  if (found == nullptr) return std::nullopt;
  return StateEntry{key, found->value, found->version, found->expires_at_unix_ms};
}

void FakeHost::clear_records() {
  std::lock_guard lock(impl_->mu);
  impl_->denials.clear();
  impl_->fetches.clear();
  impl_->chats.clear();
  impl_->events.clear();
  impl_->logs.clear();
}

std::shared_ptr<HostApi> FakeHost::connect(const std::string& plugin_id) const {
  return std::make_shared<Connection>(impl_, plugin_id);
}

FakeHost::Ticket FakeHost::issue(Scope scope) {
  std::lock_guard lock(impl_->mu);
  // Unguessable like the supervisor's, so a test cannot pass by predicting one.
  std::string token = "it_" + std::to_string(++impl_->next_token) + "_" + random_hex();
  impl_->tokens.emplace(token, std::move(scope));
  return Ticket(impl_, std::move(token));
}

FakeHost::Ticket::Ticket(std::shared_ptr<Impl> impl, std::string token)
    : impl_(std::move(impl)), token_(std::move(token)) {}

FakeHost::Ticket& FakeHost::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    reset();
    impl_ = std::move(other.impl_);
    token_ = std::move(other.token_);
  }
  return *this;
}

void FakeHost::Ticket::reset() {
  if (impl_) {
    std::lock_guard lock(impl_->mu);
    impl_->revoke(token_);
  }
  impl_.reset();
  token_.clear();
}

}  // namespace plugvisor::sdk::testing
