// The fd-4 client's side of host.v1 Log. A handler's log call must not wait on the supervisor,
// so a record goes into a small bounded queue and returns; one thread sends the queue in order,
// each Log call under a short deadline. Synchronous calls would be simpler, but would put a
// round trip on every line and a slow supervisor's latency into every handler.
//
// What can go wrong, and what happens then:
// - The queue is full (a flood, or a supervisor that keeps up slowly): the record is dropped and
//   counted; the next record sent is preceded by a warning saying how many were lost.
// - A Log call fails (the supervisor is gone, stuck past the deadline, refuses the record): that
//   record goes to stderr, the same JSON line as without a host. After a transport failure the
//   sender is "degraded" for a while: new records go straight to stderr, so a dead supervisor
//   costs one deadline, not one per line. A rate-limit refusal (RESOURCE_EXHAUSTED) is a drop:
//   the supervisor counts it, and a copy on stderr would double the plugin's log budget.
// - An invocation answers with its records still queued: they go out after it, since the
//   supervisor accepts Log with an invocation's token for a while after the invocation ended
//   (host/invocations.h), so logging never holds up an answer.
// Nothing here logs through a Logger: failures go to the fallback (stderr) directly.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "plugvisor/host/v1/host.pb.h"
#include "plugvisor/sdk/host.h"

namespace plugvisor::sdk::detail {

class LogSender {
 public:
  // One host.v1 Log call; it must give up at `deadline`.
  using Send = std::function<grpc::Status(const ::plugvisor::host::v1::LogRequest& request,
                                          std::chrono::system_clock::time_point deadline)>;
  // Where a record goes when the host does not get it (stderr, in the SDK).
  using Fallback = std::function<void(const LogRecord& record)>;

  struct Limits {
    size_t max_queued = 1024;
    std::chrono::milliseconds call_timeout{100};
    std::chrono::milliseconds degraded_for{1000};
    std::chrono::milliseconds close_drain{500};  // what the destructor gives the queue
  };

  LogSender(Send send, Fallback fallback, Limits limits);
  ~LogSender();  // sends what it can within close_drain; the rest goes to the fallback
  LogSender(const LogSender&) = delete;
  LogSender& operator=(const LogSender&) = delete;

  // Queues the record, or drops and counts it if the queue is full. Refused (the caller writes
  // the line itself) while degraded.
  HostResult<void> log(const HostCall& call, LogRecord record);

  uint64_t sent() const;
  uint64_t dropped() const;    // queue full, or the supervisor's rate limit
  uint64_t fell_back() const;  // written to the fallback instead

 private:
  struct Item {
    std::string token;
    LogRecord record;
  };

  void run() noexcept;
  void deliver(Item& item) noexcept;
  void fall_back(const LogRecord& record) noexcept;
  bool degraded(std::chrono::steady_clock::time_point now) const;  // with mu_ held

  const Send send_;
  const Fallback fallback_;
  const Limits limits_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the sender waits for records
  std::condition_variable done_cv_;  // the destructor waits for the sender
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool sending_ = false;  // a record is on its way
  std::chrono::steady_clock::time_point degraded_until_{};
  uint64_t dropped_unreported_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
  uint64_t fell_back_ = 0;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace plugvisor::sdk::detail
