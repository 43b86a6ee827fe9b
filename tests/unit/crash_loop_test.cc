#include <catch2/catch.hpp>

#include "guard/guards.h"

using namespace plugvisor;
using namespace plugvisor::guard;
using namespace std::chrono_literals;

TEST_CASE("five failures within five minutes are a crash loop") {
  FakeClock clock;
  CrashLoopDetector d(clock, 5, 5min);
  for (int i = 0; i < 4; ++i) {
    CHECK_FALSE(d.record_failure());
    clock.advance(1min);
  }
  CHECK(d.failures_in_window() == 4);
  CHECK(d.record_failure());
}

TEST_CASE("the window slides: old failures fall out") {
  FakeClock clock;
  CrashLoopDetector d(clock, 3, 5min);
  CHECK_FALSE(d.record_failure());  // t = 0
  clock.advance(3min);
  CHECK_FALSE(d.record_failure());  // t = 3
  clock.advance(2min);              // t = 5: the first is exactly a window old and leaves
  CHECK(d.failures_in_window() == 1);
  CHECK_FALSE(d.record_failure());
  clock.advance(1min);
  CHECK(d.record_failure());  // 3, 5, 6 are within five minutes
  clock.advance(10min);
  CHECK(d.failures_in_window() == 0);
}

TEST_CASE("reset forgets all failures") {
  FakeClock clock;
  CrashLoopDetector d(clock, 2, 1min);
  (void)d.record_failure();
  d.reset();
  CHECK(d.failures_in_window() == 0);
  CHECK_FALSE(d.record_failure());
  CHECK(d.record_failure());
}
