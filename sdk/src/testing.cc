// The in-process harness. It judges a handler's output with the supervisor's own code
// (dispatch's default catalog, touched_paths, path_allowed, schema validation), so a test that
// passes here cannot be rejected for a reason the harness did not check.
#include "plugvisor/sdk/testing.h"

#include <cstdio>
#include <random>
#include <stdexcept>

#include "dispatch/catalog.h"
#include "dispatch/merge_patch.h"
#include "dispatch/schema.h"

namespace plugvisor::sdk::testing {
namespace {

std::string test_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(prefix) + buf;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + (i.empty() ? "\"\" (root)" : i);
  return out;
}

}  // namespace

Harness::Harness(Plugin& plugin, Json settings, FakeHost host)
    : plugin_(plugin), host_(std::move(host)), connection_(host_.connect(plugin.id())) {
  // null (`{}` in a call) is "no settings", like an empty settings_json on the wire.
  if (settings.is_null()) settings = Json::object();
  if (!settings.is_object()) throw std::invalid_argument("harness settings must be a JSON object");
  previous_host_ = plugin_.host();
  plugin_.set_host(connection_);
  try {
    plugin_.configure(settings);
  } catch (...) {
    plugin_.set_host(std::move(previous_host_));  // the destructor will not run
    throw;
  }
}

Harness::~Harness() { plugin_.set_host(std::move(previous_host_)); }

Harness& Harness::set_rules(const std::string& hook, HookRules rules) {
  rules_[hook] = std::move(rules);
  return *this;
}

Outcome Harness::invoke(const std::string& hook, const Json& data, const Invocation& invocation) {
  const auto* reg = plugin_.find(hook);
  if (reg == nullptr) {
    throw std::invalid_argument("plugin " + plugin_.id() + " has no handler for hook " + hook);
  }
  static const auto catalog = dispatch::HookCatalog::defaults();
  dispatch::HookSpec spec;
  if (auto it = rules_.find(hook); it != rules_.end()) {
    spec.name = hook;
    spec.blockable = it->second.blockable;
    spec.mutable_paths = it->second.mutable_paths;
  } else if (const auto* known = catalog.find(hook)) {
    spec = *known;
  } else {
    throw std::invalid_argument("hook " + hook +
                                " is not in the default catalog; declare it with set_rules()");
  }
  if (!data.is_object()) throw std::invalid_argument("hook payloads are JSON objects");

  Context::Ids ids{hook,
                   test_id("inv-"),
                   test_id("dsp-"),
                   invocation.tenant_id,
                   invocation.work_item_id,
                   invocation.run_id,
                   {}};
  // Like the supervisor's, the token is good exactly while the handler runs.
  const std::string invocation_id = ids.invocation_id;
  auto ticket = host_.issue({plugin_.id(), invocation.tenant_id, invocation_id});
  const auto start = std::chrono::steady_clock::now();
  Context ctx(std::move(ids), start + invocation.timeout, {}, &plugin_.settings(),
              Context::Host{connection_, ticket.token()});

  Outcome out;
  out.data = data;
  Result result;
  try {
    result = reg->handler(ctx, data);
  } catch (const std::exception& e) {
    out.failure = std::string("handler threw: ") + e.what();
  } catch (...) {
    out.failure = "handler threw a non-standard exception";
  }
  out.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  ticket.reset();
  out.logs = host_.logs_of(invocation_id);
  out.timed_out = out.duration > invocation.timeout;
  if (out.failure) return out;
  if (result.failure()) {
    out.failure = result.failure();
    return out;
  }
  if (result.blocked()) {
    out.blocked = true;
    out.reason = result.reason();
    if (!spec.blockable) out.invalid_output = "hook " + hook + " cannot be blocked";
    return out;
  }
  if (!result.merge_patch()) return out;

  // The patch crosses the wire as text; round-trip it so tests see what the supervisor sees
  // (NaN becomes null, for example).
  const Json patch =
      Json::parse(result.merge_patch()->dump(-1, ' ', false, Json::error_handler_t::replace));
  out.patch = patch;
  for (const auto& path : dispatch::touched_paths(data, patch)) {
    if (!dispatch::path_allowed(path, spec.mutable_paths)) out.forbidden_paths.push_back(path);
  }
  if (!out.forbidden_paths.empty()) {
    out.invalid_output = "patch touches paths outside hook " + hook +
                         "'s mutable paths: " + join(out.forbidden_paths);
    return out;  // rejected whole, like the supervisor does
  }
  Json patched = data;
  patched.merge_patch(patch);
  if (spec.output_schema) {
    if (auto st = dispatch::validate(*spec.output_schema, patched); !st) {
      out.invalid_output = "output fails hook " + hook + "'s schema: " + st.error().message;
      return out;
    }
  }
  out.data = std::move(patched);
  return out;
}

}  // namespace plugvisor::sdk::testing
