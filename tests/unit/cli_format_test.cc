// plugvisorctl's text building blocks: tables, key/value lines, humanised durations and times.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>

#include "plugvisorctl/text.h"

using namespace plugvisor::cli;

namespace {

// Pins the process time zone for one test; POSIX TZ "XXX-2" means two hours east of UTC.
struct ScopedTz {
  explicit ScopedTz(const char* tz) {
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTz() {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

}  // namespace

TEST_CASE("display width counts code points, not bytes") {
  CHECK(display_width("") == 0);
  CHECK(display_width("abc") == 3);
  CHECK(display_width("812µs") == 5);
  CHECK(display_width("…") == 1);
}

TEST_CASE("truncate_display keeps short strings and marks cuts") {
  CHECK(truncate_display("short", 10) == "short");
  CHECK(truncate_display("exactly10!", 10) == "exactly10!");
  CHECK(truncate_display("much too long", 8) == "much to…");
  CHECK(display_width(truncate_display("µµµµµµµµ", 4)) == 4);
  CHECK(truncate_display("µµµµµµµµ", 4) == "µµµ…");
  CHECK(truncate_display("abc", 0).empty());
}

TEST_CASE("table widths come from the widest cell or header") {
  Table t({{"PLUGIN"}, {"CALLS", Align::kRight}, {"STATE"}});
  t.add_row({"linkifier", "7", "ready"});
  t.add_row({"x", "12345678", "circuit_open"});
  CHECK(t.render() ==
        "PLUGIN        CALLS  STATE\n"
        "linkifier         7  ready\n"
        "x          12345678  circuit_open\n");
}

TEST_CASE("table aligns multi-byte cells by columns") {
  Table t({{"P99", Align::kRight}, {"X"}});
  t.add_row({"812µs", "a"});
  t.add_row({"12.3ms", "b"});
  CHECK(t.render() ==
        "   P99  X\n"
        " 812µs  a\n"
        "12.3ms  b\n");
}

TEST_CASE("table without rows renders only its header, without trailing blanks") {
  Table t({{"HOOK"}, {"PRIORITY", Align::kRight}, {"POLICY"}});
  CHECK(t.empty());
  CHECK(t.render() == "HOOK  PRIORITY  POLICY\n");
}

TEST_CASE("table pads short rows and pads a right-aligned last column") {
  Table t({{"A"}, {"NUMBER", Align::kRight}});
  t.add_row({"x"});
  t.add_row({"yy", "5", "ignored"});
  CHECK(t.size() == 2);
  CHECK(t.render() ==
        "A   NUMBER\n"
        "x         \n"
        "yy       5\n");
}

TEST_CASE("fields align values after the longest key") {
  CHECK(render_fields({{"id", "linkifier"}, {"disabled reason", "-"}, {"pid", "42"}}) ==
        "id:              linkifier\n"
        "disabled reason: -\n"
        "pid:             42\n");
  CHECK(render_fields({{"key", ""}}) == "key:\n");
  CHECK(render_fields({}).empty());
}

TEST_CASE("durations are humanised with the two largest units") {
  CHECK(format_duration_ms(-1) == "-");
  CHECK(format_duration_ms(0) == "0ms");
  CHECK(format_duration_ms(850) == "850ms");
  CHECK(format_duration_ms(1000) == "1s");
  CHECK(format_duration_ms(59'999) == "59s");
  CHECK(format_duration_ms(192'000) == "3m12s");
  CHECK(format_duration_ms(60'000) == "1m00s");
  CHECK(format_duration_ms(2 * 3600'000 + 5 * 60'000 + 9'000) == "2h05m");
  CHECK(format_duration_ms(3 * 86'400'000LL + 4 * 3600'000) == "3d04h");
}

TEST_CASE("latencies pick a unit that keeps three significant digits") {
  CHECK(format_latency_us(-1) == "-");
  CHECK(format_latency_us(0) == "0µs");
  CHECK(format_latency_us(812) == "812µs");
  CHECK(format_latency_us(999) == "999µs");
  CHECK(format_latency_us(1000) == "1.0ms");
  CHECK(format_latency_us(12'345) == "12.3ms");
  CHECK(format_latency_us(99'949) == "99.9ms");
  CHECK(format_latency_us(99'950) == "100ms");  // not "100.0ms"
  CHECK(format_latency_us(250'400) == "250ms");
  CHECK(format_latency_us(999'499) == "999ms");
  CHECK(format_latency_us(999'500) == "1.00s");  // not "1000ms"
  CHECK(format_latency_us(1'500'000) == "1.50s");
  CHECK(format_latency_us(125'000'000) == "2m05s");
}

TEST_CASE("local time is ISO 8601 with milliseconds and the zone offset") {
  SECTION("UTC") {
    ScopedTz tz("UTC");
    CHECK(format_local_time(1'714'567'384'123) == "2024-05-01T12:43:04.123Z");
    CHECK(format_local_time(1'714'567'384'005) == "2024-05-01T12:43:04.005Z");
  }
  SECTION("east of UTC") {
    ScopedTz tz("XXX-2");
    CHECK(format_local_time(1'714'567'384'123) == "2024-05-01T14:43:04.123+02:00");
  }
  SECTION("west of UTC, half-hour offset") {
    ScopedTz tz("YYY+3:30");
    CHECK(format_local_time(1'714'567'384'123) == "2024-05-01T09:13:04.123-03:30");
  }
  SECTION("unknown") { CHECK(format_local_time(0) == "-"); }
}

TEST_CASE("or_dash stands in for empty values") {
  CHECK(or_dash("") == "-");
  CHECK(or_dash("x") == "x");
}
