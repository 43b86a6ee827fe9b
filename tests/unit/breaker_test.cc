#include <catch2/catch.hpp>

#include "guard/guards.h"

using namespace plugvisor;
using namespace plugvisor::guard;
using namespace std::chrono_literals;

TEST_CASE("breaker opens after N consecutive failures") {
  FakeClock clock;
  CircuitBreaker b(clock, 3, 60s);
  CHECK(b.state() == CircuitState::closed);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(b.allow());
    b.record_failure();
  }
  CHECK(b.state() == CircuitState::closed);
  REQUIRE(b.allow());
  b.record_failure();
  CHECK(b.state() == CircuitState::open);
  CHECK_FALSE(b.allow());
}

TEST_CASE("a success resets the consecutive count") {
  FakeClock clock;
  CircuitBreaker b(clock, 3, 60s);
  b.record_failure();
  b.record_failure();
  b.record_success();
  b.record_failure();
  b.record_failure();
  CHECK(b.state() == CircuitState::closed);
  b.record_failure();
  CHECK(b.state() == CircuitState::open);
}

TEST_CASE("after open_for exactly one probe is let through") {
  FakeClock clock;
  CircuitBreaker b(clock, 1, 60s);
  b.record_failure();
  clock.advance(59s);
  CHECK(b.state() == CircuitState::open);
  CHECK_FALSE(b.allow());
  clock.advance(1s);
  CHECK(b.state() == CircuitState::half_open);
  CHECK(b.allow());
  CHECK(b.state() == CircuitState::half_open);
  CHECK_FALSE(b.allow());  // the probe is still out
  CHECK_FALSE(b.allow());

  SECTION("probe success closes") {
    b.record_success();
    CHECK(b.state() == CircuitState::closed);
    CHECK(b.allow());
    CHECK(b.allow());
  }
  SECTION("probe failure re-opens for another open_for") {
    clock.advance(5s);
    b.record_failure();
    CHECK(b.state() == CircuitState::open);
    CHECK_FALSE(b.allow());
    clock.advance(59s);
    CHECK_FALSE(b.allow());
    clock.advance(1s);
    CHECK(b.allow());
  }
  SECTION("a neutral settlement frees the probe slot") {
    b.record_neutral();
    CHECK(b.state() == CircuitState::half_open);
    CHECK(b.allow());
    CHECK_FALSE(b.allow());
  }
}

TEST_CASE("late results of calls admitted before opening do not change an open circuit") {
  FakeClock clock;
  CircuitBreaker b(clock, 2, 10s);
  b.record_failure();
  b.record_failure();
  REQUIRE(b.state() == CircuitState::open);
  b.record_success();
  CHECK(b.state() == CircuitState::open);
  clock.advance(5s);
  b.record_failure();  // does not extend the pause
  clock.advance(5s);
  CHECK(b.state() == CircuitState::half_open);
}

TEST_CASE("reset closes the breaker") {
  FakeClock clock;
  CircuitBreaker b(clock, 1, 60s);
  b.record_failure();
  b.reset();
  CHECK(b.state() == CircuitState::closed);
  CHECK(b.allow());
  CHECK(to_string(CircuitState::half_open) == "half_open");
  CHECK(to_string(CircuitState::open) == "open");
  CHECK(to_string(CircuitState::closed) == "closed");
}
