#include "dispatch/chain_run.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "dispatch/merge_patch.h"
#include "dispatch/schema.h"
#include "plugvisor/common/ids.h"

namespace plugvisor::dispatch {
namespace {

using json = nlohmann::json;
using std::chrono::microseconds;
using std::chrono::milliseconds;

Error refusal(DispatchRefusal why, std::string message) {
  return Error{std::move(message), static_cast<int>(why)};
}

// Failures that say something about the plugin's health feed its breaker; refusals that happen
// before the plugin ran (open circuit, not loaded, disabled, denied) must not, or an open
// circuit would keep itself open.
bool counts_as_failure(ErrorCode code) {
  switch (code) {
    case ErrorCode::timeout:
    case ErrorCode::plugin_crashed:
    case ErrorCode::invalid_output:
    case ErrorCode::execution_error:
      return true;
    default:
      return false;
  }
}

// nlohmann's dump, copy and merge_patch recurse, so a hostile "[[[[..." payload could exhaust
// the stack. Payloads deeper than this are refused before they are parsed.
constexpr int kMaxDepth = 128;

int nesting_depth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

std::string serialise(const json& doc) {
  // Every string came from the JSON parser, so it is valid UTF-8; `replace` only guards dump()
  // from ever throwing.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ", ";
    out += s.empty() ? "(root)" : s;
  }
  return out;
}

// What the dispatcher concluded about one handler's answer.
struct Verdict {
  ErrorCode error = ErrorCode::none;
  std::string message;
  bool blocked = false;
  std::vector<std::string> mutated_paths;
  std::optional<json> patched;
};

Verdict failure(ErrorCode code, std::string message) {
  Verdict v;
  v.error = code;
  v.message = std::move(message);
  return v;
}

// Checks a handler's answer against the hook's rules; applies nothing.
Verdict judge(const HookSpec& spec, const json& current, const InvokeOutcome& outcome) {
  if (outcome.error != ErrorCode::none) return failure(outcome.error, outcome.error_message);
  if (outcome.decision == Decision::block) {
    if (!spec.blockable) {
      return failure(ErrorCode::invalid_output, "hook " + spec.name + " cannot be blocked");
    }
    Verdict v;
    v.blocked = true;  // a patch that comes with a block is deliberately ignored
    return v;
  }
  if (outcome.patch_json.empty()) return {};

  if (nesting_depth(outcome.patch_json) > kMaxDepth) {
    return failure(ErrorCode::invalid_output,
                   "patch nests deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  json patch = json::parse(outcome.patch_json, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) return failure(ErrorCode::invalid_output, "patch is not valid JSON");
  if (!patch.is_object()) {
    return failure(ErrorCode::invalid_output, "patch must be a JSON object (a JSON Merge Patch)");
  }
  std::vector<std::string> touched = touched_paths(current, patch);
  std::vector<std::string> forbidden;
  for (const std::string& p : touched) {
    if (!path_allowed(p, spec.mutable_paths)) forbidden.push_back(p);
  }
  if (!forbidden.empty()) {
    return failure(ErrorCode::invalid_output, "patch touches paths that hook " + spec.name +
                                                  " does not allow to change: " + join(forbidden));
  }
  json patched = current;
  patched.merge_patch(patch);
  if (spec.output_schema) {
    if (Status s = validate(*spec.output_schema, patched); !s) {
      return failure(ErrorCode::invalid_output,
                     "patched data fails the hook's output schema: " + s.error().message);
    }
  }
  Verdict v;
  v.mutated_paths = std::move(touched);
  v.patched = std::move(patched);
  return v;
}

Receipt start_receipt(const std::string& dispatch_id, const DispatchRequest& request,
                      const Handler& handler, FailPolicy policy) {
  Receipt r;
  r.dispatch_id = dispatch_id;
  r.plugin_id = handler.plugin_id;
  r.hook = request.hook;
  r.tenant_id = request.context.tenant_id;
  r.work_item_id = request.context.work_item_id;
  r.run_id = request.context.run_id;
  r.fail_policy = policy;
  return r;
}

}  // namespace

struct ChainRun::Pending {
  Receipt receipt;
  Invocation invocation;
  FailPolicy policy;
  Clock::time_point t0;
};

ChainRun::ChainRun(Key, const HookSpec& spec, const Clock& clock, DispatchLimits limits,
                   DispatchRequest request)
    : spec_(spec), clock_(clock), limits_(limits), request_(std::move(request)) {}

ChainRun::~ChainRun() = default;

Result<std::unique_ptr<ChainRun>> ChainRun::start(const HookCatalog& catalog,
                                                  const HandlerRegistry& registry,
                                                  const Clock& clock, DispatchLimits limits,
                                                  DispatchRequest request) {
  const HookSpec* spec = catalog.find(request.hook);
  if (spec == nullptr) {
    return refusal(DispatchRefusal::unknown_hook, "unknown hook '" + request.hook + "'");
  }
  if (request.data_json.size() > limits.max_payload_bytes) {
    return refusal(DispatchRefusal::payload_too_large,
                   "data_json is " + std::to_string(request.data_json.size()) +
                       " bytes, more than the cap of " + std::to_string(limits.max_payload_bytes) +
                       " bytes");
  }
  if (nesting_depth(request.data_json) > kMaxDepth) {
    return refusal(DispatchRefusal::invalid_payload,
                   "data_json nests deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  json data;
  try {
    data = json::parse(request.data_json);
  } catch (const json::parse_error& e) {
    return refusal(DispatchRefusal::invalid_payload, "data_json is not valid JSON (at byte " +
                                                         std::to_string(e.byte) + "): " + e.what());
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    return refusal(DispatchRefusal::invalid_payload,
                   std::string("data_json is not valid JSON: ") + e.what());
  }
  if (!data.is_object()) {
    return refusal(DispatchRefusal::invalid_payload,
                   std::string("data_json must be a JSON object, not ") + data.type_name());
  }

  auto run = std::make_unique<ChainRun>(Key{}, *spec, clock, limits, std::move(request));
  run->result_.dispatch_id = time_ordered_id();
  run->budget_ =
      run->request_.budget > milliseconds(0) ? run->request_.budget : limits.default_budget;
  run->started_ = clock.now();
  run->current_text_ = serialise(data);
  run->data_ = std::move(data);
  run->chain_ = registry.chain(run->request_.hook);
  return run;
}

FailPolicy ChainRun::policy_of(const Handler& handler) const {
  // Only a blockable hook can end blocked, so on any other hook fail_closed degrades to
  // fail_open: the failure is recorded and the chain goes on.
  return spec_.blockable ? handler.fail_policy : FailPolicy::open;
}

void ChainRun::close_on(const Handler& handler, FailPolicy policy, std::string_view what,
                        ErrorCode code, const std::string& message) {
  if (policy != FailPolicy::closed) return;
  result_.blocked = true;
  result_.blocked_by = handler.plugin_id;
  result_.reason = "plugin '" + handler.plugin_id + "' " + std::string(what) + " with " +
                   std::string(to_string(code)) + (message.empty() ? "" : " (" + message + ")") +
                   " and is fail_closed";
}

void ChainRun::fail(Receipt& receipt, const Handler& handler, FailPolicy policy, ErrorCode code,
                    std::string message) {
  receipt.status = "failed";
  receipt.error = code;
  receipt.error_message = std::move(message);
  close_on(handler, policy, "failed", code, receipt.error_message);
}

std::optional<ChainRun::Call> ChainRun::next() {
  for (; index_ < chain_->size() && !result_.blocked; ++index_) {
    const Handler& handler = (*chain_)[index_];
    const FailPolicy policy = policy_of(handler);
    Receipt receipt = start_receipt(result_.dispatch_id, request_, handler, policy);

    const Clock::duration remaining = budget_ - (clock_.now() - started_);
    if (remaining <= Clock::duration::zero()) {
      receipt.plugin_version = handler.target ? handler.target->plugin_version() : std::string();
      receipt.status = "skipped";
      receipt.error = ErrorCode::budget_exceeded;
      receipt.error_message =
          "the chain's budget of " + std::to_string(budget_.count()) + " ms is used up";
      close_on(handler, policy, "was skipped", ErrorCode::budget_exceeded, receipt.error_message);
      receipt.at_unix_ms = unix_millis();
      result_.receipts.push_back(std::move(receipt));
      continue;
    }
    if (!handler.target) {
      // A registry entry without a process behind it; nothing to invoke or settle.
      fail(receipt, handler, policy, ErrorCode::load_error, "plugin has no running target");
      receipt.at_unix_ms = unix_millis();
      result_.receipts.push_back(std::move(receipt));
      continue;
    }

    milliseconds timeout =
        handler.timeout > milliseconds(0) ? handler.timeout : spec_.default_timeout;
    // Rounded up so that a sliver of budget still gives the handler a non-zero deadline.
    timeout = std::min(timeout, std::chrono::ceil<milliseconds>(remaining));

    Invocation inv;
    inv.hook = request_.hook;
    inv.context = request_.context;
    inv.context.dispatch_id = result_.dispatch_id;
    inv.context.invocation_id = result_.dispatch_id + "." + std::to_string(index_);
    inv.data_json = current_text_;
    inv.timeout = timeout;
    pending_ = std::make_unique<Pending>(
        Pending{std::move(receipt), std::move(inv), policy, clock_.now()});
    return Call{handler.target.get(), &pending_->invocation};
  }
  return std::nullopt;
}

void ChainRun::complete(const InvokeOutcome& outcome) {
  const Handler& handler = (*chain_)[index_];
  std::unique_ptr<Pending> pending = std::move(pending_);
  Receipt& receipt = pending->receipt;
  const FailPolicy policy = pending->policy;
  const auto duration = std::chrono::duration_cast<microseconds>(clock_.now() - pending->t0);
  receipt.duration = duration;
  receipt.plugin_version =
      outcome.plugin_version.empty() ? handler.target->plugin_version() : outcome.plugin_version;

  Settlement settlement;
  settlement.duration = duration;
  if (outcome.skipped) {
    // Deliberately switched off: not the plugin's failure, and no fail policy applies.
    receipt.status = "skipped";
    receipt.error = outcome.error;
    receipt.error_message = outcome.error_message;
    settlement.error = outcome.error;
  } else {
    Verdict v = judge(spec_, data_, outcome);
    if (v.error != ErrorCode::none) {
      fail(receipt, handler, policy, v.error, std::move(v.message));
      settlement.error = v.error;
      settlement.counts_as_failure = counts_as_failure(v.error);
    } else if (v.blocked) {
      receipt.status = "blocked";
      receipt.error_message = outcome.reason;
      result_.blocked = true;
      result_.blocked_by = handler.plugin_id;
      result_.reason =
          outcome.reason.empty() ? "blocked by plugin '" + handler.plugin_id + "'" : outcome.reason;
    } else {
      receipt.status = "ok";
      if (v.patched) {
        std::string text = serialise(*v.patched);
        if (text.size() > limits_.max_payload_bytes) {
          // The cap protects every later handler and the host too, not only the first hop.
          fail(receipt, handler, policy, ErrorCode::invalid_output,
               "patched data is " + std::to_string(text.size()) + " bytes, more than the cap of " +
                   std::to_string(limits_.max_payload_bytes));
          settlement.error = ErrorCode::invalid_output;
          settlement.counts_as_failure = true;
        } else {
          data_ = std::move(*v.patched);
          current_text_ = std::move(text);
          receipt.mutated_paths = std::move(v.mutated_paths);
        }
      }
    }
  }
  try {
    handler.target->settle(pending->invocation, settlement);
  } catch (...) {  // NOLINT(bugprone-empty-catch)
    // settle() must not throw; if it does anyway, the dispatch still answers.
  }
  receipt.at_unix_ms = unix_millis();
  result_.receipts.push_back(std::move(receipt));
  ++index_;
}

DispatchResult ChainRun::finish(ReceiptSink& sink) {
  result_.data_json = std::move(current_text_);
  if (!result_.receipts.empty()) {
    try {
      sink.submit(result_.receipts);
    } catch (...) {  // NOLINT(bugprone-empty-catch)
      // The sink is best effort by contract; a broken one must not fail the dispatch.
    }
  }
  return std::move(result_);
}

}  // namespace plugvisor::dispatch
