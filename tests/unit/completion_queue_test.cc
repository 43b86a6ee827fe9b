// rpc::CompletionQueueRunner: every completion is proceeded, a tag that starts another operation
// stays on the queue, and stop() ends the threads whether they sleep or busy-poll.
#include "rpc/completion_queue.h"

#include <grpcpp/alarm.h>
#include <grpcpp/server_builder.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>

using namespace std::chrono_literals;
using plugvisor::rpc::CompletionQueueRunner;
using plugvisor::rpc::CqTag;

namespace {

std::unique_ptr<CompletionQueueRunner> make_runner() {
  grpc::ServerBuilder builder;  // the only way to get a ServerCompletionQueue
  return std::make_unique<CompletionQueueRunner>(builder.AddCompletionQueue());
}

// Fires `times` alarms in turn on the queue, then tells.
class Ticker final : public CqTag {
 public:
  Ticker(CompletionQueueRunner& q, int times, std::promise<int>& done)
      : q_(q), left_(times), done_(done) {}
  void arm() {
    // Nothing of this object is touched once it is handed over: the tick may free it.
    CompletionQueueRunner& q = q_;
    grpc::Alarm& alarm = alarm_;
    CqTag* tag = this;
    plugvisor::tsan_handing_over(tag);
    q.if_open([&] { alarm.Set(q.cq(), std::chrono::system_clock::now() + 1ms, tag); });
  }
  bool proceed(bool ok) noexcept override {
    ++seen_;
    if (ok && --left_ > 0) {
      arm();
      return true;  // kept: the queue still holds it
    }
    done_.set_value(seen_);
    return false;
  }

 private:
  CompletionQueueRunner& q_;
  int left_;
  int seen_ = 0;
  std::promise<int>& done_;
  grpc::Alarm alarm_;
};

}  // namespace

TEST_CASE("completions are proceeded, busy-polling or not", "[rpc]") {
  for (auto busy_poll : {0us, 200us, 1000000us}) {
    INFO("busy_poll " << busy_poll.count() << " us");
    auto q = make_runner();
    q->run(1, busy_poll);
    std::promise<int> done;
    auto seen = done.get_future();
    auto ticker = std::make_unique<Ticker>(*q, 20, done);
    ticker.release()->arm();  // the queue owns it now
    REQUIRE(seen.wait_for(10s) == std::future_status::ready);
    CHECK(seen.get() == 20);
    // stop() must return while the thread is still inside its busy-poll window.
    auto stopped = std::async(std::launch::async, [&] { q->stop(); });
    CHECK(stopped.wait_for(10s) == std::future_status::ready);
  }
}
