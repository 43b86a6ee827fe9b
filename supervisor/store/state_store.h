// Plugin rows and lifecycle/audit events in PostgreSQL.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "plugvisor/common/result.h"
#include "store/connection.h"
#include "store/records.h"

namespace plugvisor::store {

// Plugin rows and lifecycle/audit events.
//
// Writes (events, plugin state, enabled flag) are applied in order by a background thread,
// promptly, and retried with reconnect backoff while the database is away, so callers never
// wait on it. Reads are synchronous on their own connection and fail fast (a value, not a hang)
// when the database is away.
class StateStore {
 public:
  explicit StateStore(std::string url);
  ~StateStore();  // flush(2 s) then stop
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Opens the read connection and applies migrations. Retries until `timeout`.
  // (The write thread also applies them, once, whenever it connects: if open() failed because
  // the database was away at start, the schema still appears once it is back.)
  Status open(std::chrono::milliseconds timeout);

  // --- asynchronous, ordered writes ---
  // Inserted once per event id: a retry after an ambiguous failure does not duplicate it.
  void append_event(EventRecord event);
  // Upserts id/version/state/pid/restarts; never touches enabled or disabled_reason.
  // pid <= 0 is stored as NULL (not running).
  void save_state(const PluginRow& row, int pid);
  // Upserts the row if it is missing. An empty reason is stored as NULL.
  void set_enabled(const std::string& plugin_id, bool enabled, const std::string& reason);

  bool flush(std::chrono::milliseconds timeout);
  size_t pending() const;
  bool connected() const { return connected_.load(); }
  // Writes dropped because kMaxPending were already waiting (a very long outage), or because
  // the database refused their data.
  uint64_t dropped() const;

  // --- synchronous reads ---
  Result<std::vector<PluginRow>> load_plugins();
  Result<std::vector<EventRecord>> recent_events(const EventFilter& filter);
  Result<std::vector<StoredReceipt>> list_receipts(const ReceiptFilter& filter);

  static constexpr size_t kMaxPending = 100000;

 private:
  using Op = std::function<Status(Connection&)>;
  void enqueue(Op op);
  void run();
  void loop();
  template <typename F>
  auto with_reader(F&& f) -> decltype(f(std::declval<Connection&>()));

  std::string url_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<Op> ops_;
  bool busy_ = false;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  std::atomic<bool> connected_{false};
  std::thread thread_;
  std::mutex reader_mu_;
  std::optional<Connection> reader_;
};

}  // namespace plugvisor::store
