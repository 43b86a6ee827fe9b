// Invocation tokens whose invocation has answered, kept a while for Log alone: the SDK sends a
// handler's log records asynchronously, so that logging never holds up an answer, and the last
// records of an invocation can then arrive just after it. plugvisord's invocation registry and
// the SDK's FakeHost both keep them, by this one rule.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

namespace plugvisor {

template <typename Scope>
class FinishedTokens {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kGrace{30};
  static constexpr size_t kMax = 4096;

  // Takes a revoked token; the oldest leave once there are more than kMax or they are past
  // kGrace.
  void add(std::string token, Scope scope, Clock::time_point now = Clock::now()) {
    order_.emplace_back(now, token);
    scopes_.insert_or_assign(std::move(token), Entry{now, std::move(scope)});
    while (order_.size() > kMax || order_.front().first + kGrace < now) {
      // Only the entry this order slot was made for: a token added again has a newer one.
      const auto& [revoked, key] = order_.front();
      if (auto it = scopes_.find(key); it != scopes_.end() && it->second.revoked == revoked) {
        scopes_.erase(it);
      }
      order_.pop_front();
    }
  }

  // The scope of a token revoked within kGrace; null otherwise.
  const Scope* find(const std::string& token, Clock::time_point now = Clock::now()) const {
    auto it = scopes_.find(token);
    if (it == scopes_.end() || it->second.revoked + kGrace < now) return nullptr;
    return &it->second.scope;
  }

 private:
  struct Entry {
    Clock::time_point revoked;
    Scope scope;
  };
  // Hashed, not ordered: a token is added on every invocation.
  std::unordered_map<std::string, Entry> scopes_;
  std::deque<std::pair<Clock::time_point, std::string>> order_;
};

}  // namespace plugvisor
