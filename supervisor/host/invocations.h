// Invocation tokens: the proof a host.v1 call is made for an invocation in flight. The
// supervisor issues one per plugin.v1 Invoke (a ticket revoked when the call returns), the
// plugin echoes it in its host calls, and the host derives tenant, work item and run from it.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "plugvisor/common/finished_tokens.h"
#include "plugvisor/common/host_error.h"

namespace plugvisor::host {

// Who a host call is for. Outside an invocation only plugin_id is set (tenant empty).
struct CallScope {
  std::string plugin_id;
  std::string plugin_version;
  std::string hook;
  std::string invocation_id;
  std::string dispatch_id;
  std::string tenant_id;
  std::string work_item_id;
  std::string run_id;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  bool in_invocation() const { return !invocation_id.empty(); }
};

class InvocationRegistry {
 public:
  // Revokes its token when destroyed; movable.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(InvocationRegistry* registry, std::string token)
        : registry_(registry), token_(std::move(token)) {}
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { reset(); }
    const std::string& token() const { return token_; }
    void reset();

   private:
    InvocationRegistry* registry_ = nullptr;
    std::string token_;
  };

  Ticket issue(CallScope scope);

  // The scope of a call from `caller` carrying `token`. An empty token is the caller's own,
  // tenant-less scope. A token that is unknown, revoked or issued to another plugin is
  // permission_denied (permission "invocation_token").
  //
  // `finished_ok` (Log only): a token revoked within kFinishedGrace is still good, with no
  // deadline. The SDK sends a handler's log records asynchronously, so that logging never
  // holds up an answer; the last records of an invocation can then arrive just after it.
  hostcall::HostResult<CallScope> resolve(const std::string& caller, const std::string& token,
                                          bool finished_ok = false) const;

  size_t live() const;

  static constexpr auto kFinishedGrace = FinishedTokens<CallScope>::kGrace;
  static constexpr size_t kMaxFinished = FinishedTokens<CallScope>::kMax;

 private:
  void revoke(const std::string& token);

  // Hashed, not ordered: issue and revoke run on every invocation, and an ordered map of up to
  // kMaxFinished random 67-character tokens showed up in the dispatch path's profile.
  mutable std::mutex mu_;
  std::unordered_map<std::string, CallScope> scopes_;
  FinishedTokens<CallScope> finished_;  // revoked tokens still good for Log
};

}  // namespace plugvisor::host
