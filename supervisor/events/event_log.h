// Lifecycle and audit events: every one is stored (asynchronously, in order) and fanned out to
// live watchers (admin.v1 WatchEvents). Watchers that fall behind lose their oldest events,
// counted, rather than slowing the supervisor down.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"
#include "store/state_store.h"

namespace plugvisor::events {

class Subscription {
 public:
  Subscription(std::string plugin_id, std::string kind_prefix, size_t capacity)
      : plugin_id_(std::move(plugin_id)), kind_prefix_(std::move(kind_prefix)), capacity_(capacity) {}

  bool matches(const store::EventRecord& e) const;
  // The next event, or nullopt after `timeout` (so the caller can check for cancellation).
  std::optional<store::EventRecord> next(std::chrono::milliseconds timeout);
  void push(const store::EventRecord& e);
  uint64_t lost() const;

 private:
  std::string plugin_id_;
  std::string kind_prefix_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<store::EventRecord> queue_;
  uint64_t lost_ = 0;
};

class EventLog {
 public:
  explicit EventLog(store::StateStore& store) : store_(store) {}

  // Records an event now; returns it (with its id) for callers that want to log it.
  store::EventRecord emit(const std::string& plugin_id, const std::string& kind,
                          const std::string& state, nlohmann::json detail = nlohmann::json::object());

  std::shared_ptr<Subscription> subscribe(std::string plugin_id, std::string kind_prefix);
  void unsubscribe(const std::shared_ptr<Subscription>& sub);

 private:
  store::StateStore& store_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subs_;
};

}  // namespace plugvisor::events
