#include "events/event_log.h"

#include <algorithm>
#include <spdlog/spdlog.h>

#include "plugvisor/common/ids.h"

namespace plugvisor::events {

bool Subscription::matches(const store::EventRecord& e) const {
  if (!plugin_id_.empty() && e.plugin_id != plugin_id_) return false;
  return e.kind.rfind(kind_prefix_, 0) == 0;
}

std::optional<store::EventRecord> Subscription::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!ready_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) return std::nullopt;
  auto e = std::move(queue_.front());
  queue_.pop_front();
  return e;
}

void Subscription::push(const store::EventRecord& e) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= capacity_) {
      queue_.pop_front();
      ++lost_;
    }
    queue_.push_back(e);
  }
  ready_.notify_one();
}

uint64_t Subscription::lost() const {
  std::lock_guard lock(mu_);
  return lost_;
}

store::EventRecord EventLog::emit(const std::string& plugin_id, const std::string& kind,
                                  const std::string& state, nlohmann::json detail) {
  store::EventRecord e{time_ordered_id(), unix_millis(), plugin_id, kind, state, std::move(detail)};
  spdlog::info("event plugin={} kind={}{}{} {}", plugin_id, kind, state.empty() ? "" : " state=",
               state, e.detail.dump());
  store_.append_event(e);
  std::lock_guard lock(mu_);
  for (const auto& sub : subs_) {
    if (sub->matches(e)) sub->push(e);
  }
  return e;
}

std::shared_ptr<Subscription> EventLog::subscribe(std::string plugin_id, std::string kind_prefix) {
  auto sub = std::make_shared<Subscription>(std::move(plugin_id), std::move(kind_prefix), 1024);
  std::lock_guard lock(mu_);
  subs_.push_back(sub);
  return sub;
}

void EventLog::unsubscribe(const std::shared_ptr<Subscription>& sub) {
  std::lock_guard lock(mu_);
  std::erase(subs_, sub);
}

}  // namespace plugvisor::events
