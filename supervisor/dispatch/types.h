// Vocabulary of hook dispatch: what a handler is, what an invocation returns, what a receipt says.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plugvisor::dispatch {

enum class FailPolicy { open, closed };

enum class ErrorCode {
  none,
  timeout,
  plugin_crashed,
  invalid_output,
  circuit_open,
  load_error,
  execution_error,
  budget_exceeded,
  permission_denied,
  disabled,
};

// "TIMEOUT", "PLUGIN_CRASHED", ...; "" for none.
std::string_view to_string(ErrorCode code);
// "fail_open" / "fail_closed".
std::string_view to_string(FailPolicy policy);
std::optional<FailPolicy> parse_fail_policy(std::string_view text);

enum class Decision { proceed, block };

// One entry of the hook catalog.
struct HookSpec {
  std::string name;
  bool blockable = false;
  // JSON Pointers; a patch may change a value at or below one of these, nothing else.
  std::vector<std::string> mutable_paths;
  std::chrono::milliseconds default_timeout{1500};
  // Optional JSON schema (a documented subset, see schema.h) for the data a handler leaves.
  std::optional<nlohmann::json> output_schema;
};

struct InvocationContext {
  std::string dispatch_id;
  std::string invocation_id;
  std::string tenant_id;
  std::string work_item_id;
  std::string run_id;
  std::map<std::string, std::string> attributes;
};

struct Invocation {
  std::string hook;
  InvocationContext context;
  std::string data_json;
  std::chrono::milliseconds timeout{0};  // already capped by the chain's remaining budget
};

// What the target reports about one invocation before the dispatcher checks it.
struct InvokeOutcome {
  ErrorCode error = ErrorCode::none;
  std::string error_message;
  // Set by a target that was deliberately switched off by an operator: the handler is
  // skipped without applying its fail policy.
  bool skipped = false;
  Decision decision = Decision::proceed;
  std::string patch_json;  // empty: no patch
  std::string reason;
  // The version the target had when it took (or refused) the call, read under the lock it
  // takes anyway; empty: the dispatcher asks plugin_version() for the receipt.
  std::string plugin_version;
};

// The dispatcher's verdict on one invocation, reported back so the target's guards see it.
struct Settlement {
  ErrorCode error = ErrorCode::none;
  bool counts_as_failure = false;
  std::chrono::microseconds duration{0};
};

// A plugin seen from the dispatcher. Implemented by the process layer; faked in unit tests.
class HandlerTarget {
 public:
  virtual ~HandlerTarget() = default;
  virtual const std::string& plugin_id() const = 0;
  virtual std::string plugin_version() const = 0;
  // Runs one invocation, or refuses it at once (CIRCUIT_OPEN, DISABLED, LOAD_ERROR).
  // Returns within invocation.timeout plus a small margin. Never throws.
  virtual InvokeOutcome invoke(const Invocation& invocation) = 0;
  using InvokeDone = std::function<void(InvokeOutcome)>;
  // The same without blocking: `done` runs exactly once with the outcome, before this returns
  // (a refusal) or later on another thread. `invocation` need only live until this returns.
  // The default runs invoke() here. Never throws.
  virtual void invoke_async(const Invocation& invocation, InvokeDone done) {
    done(invoke(invocation));
  }
  // Called once for every invoke() with the dispatcher's verdict.
  virtual void settle(const Invocation& invocation, const Settlement& settlement) = 0;
};

struct Handler {
  std::string plugin_id;
  std::string hook;
  int priority = 0;
  FailPolicy fail_policy = FailPolicy::open;
  std::chrono::milliseconds timeout{0};  // 0: the hook's default
  uint64_t registration_order = 0;
  std::shared_ptr<HandlerTarget> target;
};

struct Receipt {
  std::string dispatch_id;
  std::string plugin_id;
  std::string plugin_version;
  std::string hook;
  std::string status;  // ok, blocked, failed, skipped
  ErrorCode error = ErrorCode::none;
  std::string error_message;
  std::chrono::microseconds duration{0};
  std::string tenant_id;
  std::string work_item_id;
  std::string run_id;
  std::vector<std::string> mutated_paths;
  FailPolicy fail_policy = FailPolicy::open;
  int64_t at_unix_ms = 0;
};

// Where receipts go after a dispatch. Implementations must not block (the store's
// writer queues them and drops, counted, when full).
class ReceiptSink {
 public:
  virtual ~ReceiptSink() = default;
  virtual void submit(std::vector<Receipt> receipts) = 0;
};

struct DispatchRequest {
  std::string hook;
  InvocationContext context;  // dispatch_id and invocation_id are assigned by the dispatcher
  std::string data_json;
  std::chrono::milliseconds budget{0};  // 0: the configured default
};

struct DispatchResult {
  std::string dispatch_id;
  std::string data_json;
  bool blocked = false;
  std::string blocked_by;
  std::string reason;
  std::vector<Receipt> receipts;
};

struct DispatchLimits {
  std::chrono::milliseconds default_budget{8000};
  size_t max_payload_bytes = 1 << 20;
};

}  // namespace plugvisor::dispatch
