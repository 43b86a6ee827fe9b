#include "host/invocations.h"

#include "plugvisor/common/ids.h"

namespace plugvisor::host {

InvocationRegistry::Ticket& InvocationRegistry::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    token_ = std::move(other.token_);
    other.token_.clear();
  }
  return *this;
}

void InvocationRegistry::Ticket::reset() {
  if (registry_ != nullptr && !token_.empty()) registry_->revoke(token_);
  registry_ = nullptr;
  token_.clear();
}

InvocationRegistry::Ticket InvocationRegistry::issue(CallScope scope) {
  // A token is a capability: it must not be guessable from the ids a plugin sees.
  std::string token = "it_" + secure_token();
  {
    std::lock_guard lock(mu_);
    scopes_.emplace(token, std::move(scope));
  }
  return Ticket(this, token);
}

hostcall::HostResult<CallScope> InvocationRegistry::resolve(const std::string& caller,
                                                            const std::string& token,
                                                            bool finished_ok) const {
  if (token.empty()) {
    CallScope own;
    own.plugin_id = caller;
    return own;
  }
  std::lock_guard lock(mu_);
  auto it = scopes_.find(token);
  if (it == scopes_.end() && finished_ok) {
    if (const CallScope* done = finished_.find(token);
        done != nullptr && done->plugin_id == caller) {
      CallScope scope = *done;
      scope.deadline = std::chrono::steady_clock::time_point::max();  // it has answered
      return scope;
    }
  }
  if (it == scopes_.end()) {
    return hostcall::denied("invocation_token", "(token)",
                            "not an invocation in flight (unknown, finished or forged)");
  }
  if (it->second.plugin_id != caller) {
    // Deliberately the same words as above: the caller learns nothing about other plugins.
    return hostcall::denied("invocation_token", "(token)",
                            "not an invocation in flight (unknown, finished or forged)");
  }
  return it->second;
}

size_t InvocationRegistry::live() const {
  std::lock_guard lock(mu_);
  return scopes_.size();
}

void InvocationRegistry::revoke(const std::string& token) {
  std::lock_guard lock(mu_);
  auto node = scopes_.extract(token);
  if (node.empty()) return;
  finished_.add(std::move(node.key()), std::move(node.mapped()));
}

}  // namespace plugvisor::host
