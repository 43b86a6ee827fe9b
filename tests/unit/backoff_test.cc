#include <catch2/catch.hpp>

#include "guard/guards.h"

using namespace plugvisor::guard;
using namespace std::chrono_literals;

namespace {

GuardConfig defaults() { return GuardConfig{}; }

}  // namespace

TEST_CASE("without jitter the delay doubles from 1 s to the 5 min cap") {
  RestartBackoff b(defaults(), [] { return 0.5; });  // u = 0.5 scales by exactly 1
  const std::vector<milliseconds> expected = {1s,  2s,   4s,   8s,   16s, 32s,
                                              64s, 128s, 256s, 300s, 300s};
  for (milliseconds want : expected) CHECK(b.next_delay() == want);
  CHECK(b.attempts() == expected.size());
  for (int i = 0; i < 2000; ++i) (void)b.next_delay();  // no overflow far past the cap
  CHECK(b.next_delay() == 300s);
}

TEST_CASE("jitter stays within +-25 %") {
  RestartBackoff low(defaults(), [] { return 0.0; });
  RestartBackoff high(defaults(), [] { return 0.999999; });
  CHECK(low.next_delay() == 750ms);
  CHECK(high.next_delay() == 1250ms);
  CHECK(low.next_delay() == 1500ms);

  RestartBackoff real(defaults());  // the seeded default source
  for (int i = 0; i < 12; ++i) {
    const double base = std::min(1000.0 * (1 << i), 300000.0);
    const auto d = static_cast<double>(real.next_delay().count());
    CHECK(d >= base * 0.75 - 1);
    CHECK(d <= base * 1.25 + 1);
  }
}

TEST_CASE("the counter resets after a long enough healthy run") {
  RestartBackoff b(defaults(), [] { return 0.5; });
  (void)b.next_delay();
  (void)b.next_delay();
  (void)b.next_delay();
  b.note_healthy(9min);
  CHECK(b.attempts() == 3);
  CHECK(b.next_delay() == 8s);
  b.note_healthy(10min);
  CHECK(b.attempts() == 0);
  CHECK(b.next_delay() == 1s);
  (void)b.next_delay();
  b.reset();
  CHECK(b.next_delay() == 1s);
}

TEST_CASE("custom numbers") {
  GuardConfig c;
  c.backoff_initial = 100ms;
  c.backoff_max = 1s;
  c.backoff_multiplier = 3.0;
  c.backoff_jitter = 0.0;
  RestartBackoff b(c, [] { return 0.0; });
  CHECK(b.next_delay() == 100ms);
  CHECK(b.next_delay() == 300ms);
  CHECK(b.next_delay() == 900ms);
  CHECK(b.next_delay() == 1s);
}
