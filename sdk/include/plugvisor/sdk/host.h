// Host services: what a plugin reaches through the supervisor (host.v1 on fd 4), since a
// sandboxed plugin has no network, database or model of its own. A handler uses them through
// its Context (ctx.state(), ctx.fetch(), ctx.ai_chat(), ctx.emit()); every call proves the
// invocation it is made for with the token the supervisor sent along with it.
//
// Refusals and failures are values, never exceptions: each call returns a HostResult, and a
// denial's message names the permission and the target, as the supervisor's receipts do.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace plugvisor::sdk {

using Json = nlohmann::json;

// gRPC's codes, the ones host.v1 uses (see host.proto); anything else arrives as `unknown`.
enum class HostCode {
  ok,
  invalid_argument,   // a malformed request (bad key, URL, event name, ...)
  deadline_exceeded,  // the invocation's deadline passed
  not_found,
  permission_denied,   // a permission, the invocation token or the namespace refused
  resource_exhausted,  // a quota or a size cap
  failed_precondition,
  aborted,  // a compare-and-set lost
  internal,
  unavailable,  // no host connection, or the database / an upstream cannot be reached
  unknown,
};
const char* to_string(HostCode code);

struct HostError {
  HostCode code = HostCode::unknown;
  std::string message{};
};

namespace detail {
[[noreturn]] void throw_failed_access(const HostError& error);
const HostError& ok_error();
}  // namespace detail

// The outcome of a host call: a T, or the HostError saying why not.
template <class T>
class [[nodiscard]] HostResult {
 public:
  template <class U = T>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, HostError> &&
           !std::is_same_v<std::remove_cvref_t<U>, HostResult>)
      HostResult(U&& value)  // NOLINT(google-explicit-constructor)
      : v_(std::in_place_index<0>, std::forward<U>(value)) {}
  HostResult(HostError error)  // NOLINT(google-explicit-constructor)
      : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Reading the value of a failed call is a bug in the caller, not a host error; it throws
  // std::logic_error carrying the host's message so the bug is easy to find.
  T& value() & {
    if (!ok()) detail::throw_failed_access(error());
    return std::get<0>(v_);
  }
  const T& value() const& {
    if (!ok()) detail::throw_failed_access(error());
    return std::get<0>(v_);
  }
  T&& value() && { return std::move(value()); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // {HostCode::ok, ""} when the call succeeded, so `r.error().code` is always safe to read.
  const HostError& error() const { return ok() ? detail::ok_error() : std::get<1>(v_); }

 private:
  std::variant<T, HostError> v_;
};

template <>
class [[nodiscard]] HostResult<void> {
 public:
  HostResult() = default;
  HostResult(HostError error)  // NOLINT(google-explicit-constructor)
      : error_(std::move(error)) {}
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const HostError& error() const { return error_ ? *error_ : detail::ok_error(); }

 private:
  std::optional<HostError> error_;
};

// ---- State: key/value, scoped by (plugin, tenant of the invocation) --------------------------

struct StateEntry {
  std::string key{};
  std::string value{};  // not echoed by put(), and empty in list() without include_values
  int64_t version = 0;  // 1 on creation, +1 on every put
  int64_t expires_at_unix_ms = 0;  // 0: never
};

struct PutOptions {
  // Compare-and-set: unset puts unconditionally; 0 means "only if the key does not exist";
  // N > 0 "only if the stored version is N". A lost race is HostCode::aborted.
  std::optional<int64_t> expected_version{};
  std::chrono::milliseconds ttl{0};  // 0: no expiry
};

struct ListOptions {
  std::string cursor{};  // the previous page's next_cursor; empty: from the start
  uint32_t limit = 0;    // 0: 100; at most 1000
  bool include_values = false;
};

struct StatePage {
  std::vector<StateEntry> entries{};  // in key order
  std::string next_cursor{};          // empty: no more
};

// ---- HTTP egress -------------------------------------------------------------------------------

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct FetchRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE
  std::string url{};
  // Values may reference secrets as {{secret:NAME}}; the supervisor fills them in, so the
  // plugin never holds the value (and any echo of it comes back as [secret:NAME]).
  HeaderList headers{};
  std::string body{};
  std::chrono::milliseconds timeout{0};  // 0: the plugin's default; never past the deadline
};

struct FetchResponse {
  int status = 0;
  HeaderList headers{};
  std::string body{};
  std::string final_url{};  // after redirects
  uint32_t redirects = 0;
  // The first header called `name` (ASCII case-insensitive), "" if absent.
  std::string header(std::string_view name) const;
};

// ---- AI chat (OpenAI-compatible chat completions, proxied by the supervisor) -------------------

struct ChatMessage {
  std::string role{};  // system, user, assistant, tool
  std::string content{};
  std::string name{};
  std::string tool_call_id{};
  Json tool_calls{};  // assistant messages: the upstream's tool_calls array; null if none
};

struct ChatRequest {
  std::vector<ChatMessage> messages{};
  Json tools{};        // OpenAI "tools" array; null: none
  Json tool_choice{};  // "auto", "none" or an object; null: the upstream's default
  std::optional<double> temperature{};
  uint32_t max_tokens = 0;  // 0: the upstream's default
};

struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
};

struct ChatResponse {
  ChatMessage message{};
  std::string finish_reason{};
  std::string model{};
  TokenUsage usage{};
  uint32_t attempts = 1;  // 1 + the supervisor's retries
};

// ---- Logs ------------------------------------------------------------------------------------

// One structured log line, as Logger hands it to the host (host.v1 Log).
struct LogRecord {
  std::string level{};  // debug, info, warn, error
  std::string message{};
  Json fields = Json::object();
  std::string invocation_id{};  // the handler's; empty outside an invocation
};

// ---- The host behind the calls -----------------------------------------------------------------

// Who a call is for and until when.
struct HostCall {
  // From the invocation (plugin.v1 InvocationContext.invocation_token). Empty: on the plugin's
  // own behalf, which the host allows for the plugin's tenant-less state only.
  std::string invocation_token{};
  // The call gives up then (HostCode::deadline_exceeded). Without one, the SDK bounds a call to
  // kMaxHostCallTime so a stuck host cannot hang a plugin thread forever.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};
inline constexpr std::chrono::seconds kMaxHostCallTime{60};

// host.v1 as the SDK sees it. The plugin's identity is the connection, never an argument. Two
// implementations: the gRPC client on fd 4 that run() connects, and the test harness's
// sdk::testing::FakeHost; a test may also implement it to script a host by hand.
class HostApi {
 public:
  HostApi() = default;
  virtual ~HostApi() = default;
  HostApi(const HostApi&) = delete;
  HostApi& operator=(const HostApi&) = delete;

  virtual HostResult<std::optional<StateEntry>> state_get(const HostCall& call,
                                                          const std::string& key) = 0;
  virtual HostResult<StateEntry> state_put(const HostCall& call, const std::string& key,
                                           const std::string& value, const PutOptions& options) = 0;
  virtual HostResult<bool> state_erase(const HostCall& call, const std::string& key,
                                       std::optional<int64_t> expected_version) = 0;
  virtual HostResult<StatePage> state_list(const HostCall& call, const std::string& prefix,
                                           const ListOptions& options) = 0;
  virtual HostResult<FetchResponse> fetch(const HostCall& call, const FetchRequest& request) = 0;
  virtual HostResult<ChatResponse> ai_chat(const HostCall& call, const ChatRequest& request) = 0;
  // Returns the event id.
  virtual HostResult<std::string> emit(const HostCall& call, const std::string& name,
                                       const Json& payload) = 0;
  // Takes one log record. An error means "not taken": the Logger then writes the line to stderr
  // itself, so a host that keeps no logs (the default, for hosts written before Log) loses none.
  virtual HostResult<void> log(const HostCall& call, LogRecord record) {
    (void)call;
    (void)record;
    return HostError{HostCode::unavailable, "this host takes no logs"};
  }
};

// A handle on one scope of the plugin's key/value state: the invocation's tenant
// (Context::state()) or the plugin's own, tenant-less state (Plugin::own_state()). Cheap to
// copy; a copy kept past its invocation is refused (its token is revoked), by design.
class State {
 public:
  State() = default;  // not connected: every call is HostCode::unavailable
  State(std::shared_ptr<HostApi> host, HostCall call)
      : host_(std::move(host)), call_(std::move(call)) {}

  // nullopt if the key does not exist (or has expired).
  HostResult<std::optional<StateEntry>> get(const std::string& key) const;
  HostResult<StateEntry> put(const std::string& key, const std::string& value,
                             PutOptions options = {}) const;
  // true if a key was deleted; with expected_version, a version mismatch is `aborted`.
  HostResult<bool> erase(const std::string& key,
                         std::optional<int64_t> expected_version = {}) const;
  HostResult<StatePage> list(const std::string& prefix, ListOptions options = {}) const;

 private:
  std::shared_ptr<HostApi> host_;
  HostCall call_;
};

}  // namespace plugvisor::sdk
