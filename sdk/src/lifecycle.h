// Lifecycle: the serving state shared by the gRPC service, the signal and hangup watchers and
// run(). It decides whether a new invocation is admitted, remembers which ones are in flight
// (until their handler returns, even if the caller gave up), counts the gRPC calls still open
// (until their answer is sent) and carries the stop request.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace plugvisor::sdk::detail {

class Lifecycle {
 public:
  // Holds one admitted invocation; it leaves the in-flight list when the ticket dies.
  class Ticket {
   public:
    Ticket(Lifecycle& owner, std::multiset<std::string>::iterator it) : owner_(&owner), it_(it) {}
    Ticket(Ticket&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), it_(o.it_) {}
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    Lifecycle* owner_;
    std::multiset<std::string>::iterator it_;
  };

  struct StopRequest {
    std::chrono::milliseconds grace{0};
    std::string why;
  };

  // Admits an invocation unless a stop was requested.
  std::optional<Ticket> admit(const std::string& invocation_id);
  std::vector<std::string> in_flight() const;

  // The first request wins; later ones may only shorten the grace (a second SIGTERM, or the
  // supervisor hanging up while a Shutdown drain is under way).
  void request_stop(std::chrono::milliseconds grace, std::string why);
  bool stopping() const;
  // Blocks until request_stop() and returns what was asked; the grace clock starts then.
  StopRequest wait_for_stop();
  // Waits until nothing is in flight or the stop's grace runs out; false if handlers remain.
  bool drain();
  // When the grace of the stop request runs out (time_point::max() before any request).
  std::chrono::steady_clock::time_point stop_deadline() const;

  // Every gRPC call, from its start until gRPC is done with it. A drained invocation's ticket
  // is gone when its handler returns, but its answer is sent only after that.
  void call_started();
  void call_finished();
  // After request_stop(): waits until no call is open or `deadline` passes; false if calls
  // remain. (Before a stop the last call does not wake the waiter.)
  bool wait_calls_finished(std::chrono::steady_clock::time_point deadline);
  // Whether answers the supervisor waits for were given during the stop (the Shutdown RPC's
  // own, a drained invocation's): then it should get to read them before fd 3 closes.
  void answering_while_stopping();
  bool answered_while_stopping() const;

 private:
  void release(std::multiset<std::string>::iterator it);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::multiset<std::string> in_flight_;
  long open_calls_ = 0;
  bool answering_while_stopping_ = false;
  std::optional<StopRequest> stop_;
  std::chrono::steady_clock::time_point stop_deadline_ =
      std::chrono::steady_clock::time_point::max();
};

}  // namespace plugvisor::sdk::detail
