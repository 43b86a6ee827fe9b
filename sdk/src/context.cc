// Context and Result: the values a handler receives and returns.
#include <algorithm>

#include "plugvisor/sdk/plugin.h"

namespace plugvisor::sdk {

Context::Context(Ids ids, std::chrono::steady_clock::time_point deadline,
                 std::function<bool()> cancelled_by_caller, const Json* settings, Host host)
    : ids_(std::move(ids)),
      deadline_(deadline),
      cancelled_by_caller_(std::move(cancelled_by_caller)),
      settings_(settings),
      host_(std::move(host.api)),
      call_{std::move(host.invocation_token), deadline},
      log_(host_, call_, ids_.invocation_id),
      state_(host_, call_) {}

std::chrono::milliseconds Context::remaining() const {
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline_) return std::chrono::milliseconds{0};
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
}

bool Context::cancelled() const {
  if (std::chrono::steady_clock::now() >= deadline_) return true;
  return cancelled_by_caller_ && cancelled_by_caller_();
}

const Json& Context::settings() const {
  static const Json empty = Json::object();
  return settings_ != nullptr ? *settings_ : empty;
}

Result Result::patch(Json merge_patch) {
  Result r;
  r.patch_ = std::move(merge_patch);
  return r;
}

Result Result::block(std::string reason) {
  Result r;
  r.blocked_ = true;
  r.reason_ = std::move(reason);
  return r;
}

Result Result::fail(std::string message) {
  Result r;
  r.failure_ = std::move(message);
  return r;
}

}  // namespace plugvisor::sdk
