// ServingPool: handlers run on the serving thread; a handler that blocks gets the queue a second
// thread, which leaves once no handler is running; quick handlers never start one.
#include "serving_pool.h"

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

using plugvisor::sdk::detail::QueueTag;
using plugvisor::sdk::detail::ServingPool;
using namespace std::chrono_literals;

namespace {

// A tag that runs `body` as a handler once an alarm puts it on the queue.
class Job final : public QueueTag {
 public:
  Job(ServingPool& pool, std::function<void()> body) : pool_(pool), body_(std::move(body)) {}
  void post(grpc::CompletionQueue& cq) {
    plugvisor::tsan_handing_over(static_cast<QueueTag*>(this));
    alarm_.Set(&cq, std::chrono::system_clock::now(), static_cast<QueueTag*>(this));
  }
  void proceed(bool) noexcept override {
    ServingPool::InHandler busy(pool_);
    body_();
  }

 private:
  ServingPool& pool_;
  std::function<void()> body_;
  grpc::Alarm alarm_;
};

struct QueueAndPool {
  grpc::CompletionQueue cq;
  ServingPool pool{cq, ServingPool::Options{.stuck_after = 5ms}};
  QueueAndPool() { pool.start(); }
  ~QueueAndPool() { stop(); }
  // Before the test's jobs and promises go: a serving thread may still be returning from one.
  void stop() {
    if (stopped) return;
    stopped = true;
    cq.Shutdown();
    pool.join();
  }
  bool stopped = false;
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("a blocked handler gets the queue another thread, which leaves afterwards",
          "[sdk][serving]") {
  QueueAndPool q;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<std::thread::id> blocked_on;
  std::promise<std::thread::id> served_on;

  Job blocked(q.pool, [&] {
    blocked_on.set_value(std::this_thread::get_id());
    released.wait();
  });
  blocked.post(q.cq);
  const auto blocked_thread = blocked_on.get_future().get();

  // Only a second thread can run this while the first one is held.
  Job next(q.pool, [&] { served_on.set_value(std::this_thread::get_id()); });
  next.post(q.cq);
  auto served = served_on.get_future();
  REQUIRE(served.wait_for(10s) == std::future_status::ready);
  CHECK(served.get() != blocked_thread);
  CHECK(q.pool.threads_started() == 2);

  release.set_value();
  // Once nobody is inside a handler the added thread leaves, and the first one serves on.
  CHECK(eventually([&] { return q.pool.threads_live() == 1; }, 10s));
  std::promise<void> after;
  Job ping(q.pool, [&] { after.set_value(); });
  ping.post(q.cq);
  CHECK(after.get_future().wait_for(10s) == std::future_status::ready);
  CHECK(q.pool.threads_started() == 2);
  q.stop();
}

TEST_CASE("quick handlers are all served by the first thread", "[sdk][serving]") {
  QueueAndPool q;
  constexpr int kJobs = 2000;
  std::atomic<int> done{0};
  std::promise<void> all;
  std::vector<std::unique_ptr<Job>> jobs;
  for (int i = 0; i < kJobs; ++i) {
    jobs.push_back(std::make_unique<Job>(q.pool, [&] {
      if (done.fetch_add(1) + 1 == kJobs) all.set_value();
    }));
  }
  for (auto& j : jobs) j->post(q.cq);
  REQUIRE(all.get_future().wait_for(30s) == std::future_status::ready);
  CHECK(q.pool.threads_started() == 1);
  q.stop();
}

TEST_CASE("a handler that never returns leaves the queue served", "[sdk][serving]") {
  // As a hung plugin handler would: every later call still gets a thread.
  QueueAndPool q;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::unique_ptr<Job>> hung;
  std::atomic<int> entered{0};
  for (int i = 0; i < 3; ++i) {
    hung.push_back(std::make_unique<Job>(q.pool, [&] {
      entered.fetch_add(1);
      released.wait();
    }));
    hung.back()->post(q.cq);
  }
  REQUIRE(eventually([&] { return entered.load() == 3; }, 10s));
  std::promise<void> served;
  Job quick(q.pool, [&] { served.set_value(); });
  quick.post(q.cq);
  CHECK(served.get_future().wait_for(10s) == std::future_status::ready);
  CHECK(q.pool.threads_started() >= 4);
  release.set_value();
  q.stop();
}
