// The receipt writer's COPY text encoding: what a plugin's bytes become before PostgreSQL sees
// them. One bad byte or unescaped tab would cost a whole batch or shift its columns.
#include "store/copy_text.h"

#include <catch2/catch.hpp>
#include <string>

namespace copy_text = plugvisor::store::copy_text;
using namespace std::string_literals;

namespace {
const std::string kReplacement = "\xEF\xBF\xBD";
}

TEST_CASE("valid UTF-8 passes through unchanged") {
  const std::string text = "plain ascii, ünïcödé, \xE2\x82\xAC, \xF0\x9F\x98\x80";
  CHECK(copy_text::valid_utf8(text) == text);
  CHECK(copy_text::valid_utf8("") == "");
}

TEST_CASE("every invalid byte becomes U+FFFD and the rest survives") {
  CHECK(copy_text::valid_utf8("a\xFF"
                              "b") == "a" + kReplacement + "b");
  // A lone continuation byte, and a lead byte whose sequence is cut short by the end.
  CHECK(copy_text::valid_utf8("\x80x") == kReplacement + "x");
  CHECK(copy_text::valid_utf8("x\xE2\x82") == "x" + kReplacement + kReplacement);
  // A lead byte followed by something that is not a continuation byte.
  CHECK(copy_text::valid_utf8("\xC3(") == kReplacement + "(");
  // Overlong encodings of '/' and NUL, a UTF-16 surrogate, a code point past U+10FFFF.
  CHECK(copy_text::valid_utf8("\xC0\xAF") == kReplacement + kReplacement);
  CHECK(copy_text::valid_utf8("\xE0\x80\x80") == kReplacement + kReplacement + kReplacement);
  CHECK(copy_text::valid_utf8("\xED\xA0\x80") == kReplacement + kReplacement + kReplacement);
  CHECK(copy_text::valid_utf8("\xF4\x90\x80\x80") ==
        kReplacement + kReplacement + kReplacement + kReplacement);
}

TEST_CASE("a row escapes what COPY's text format gives meaning to") {
  std::string out;
  copy_text::Row(out).value("tab\there").value("line\nbreak\r").value("back\\slash").end();
  CHECK(out == "tab\\there\tline\\nbreak\\r\tback\\\\slash\n");
}

TEST_CASE("NUL is dropped, NULL is \\N, and empty values keep the columns in place") {
  std::string out;
  copy_text::Row(out).value("").value("a\0b"s).null().value("").end();
  copy_text::Row(out).null().value("x").end();
  CHECK(out == "\tab\t\\N\t\n\\N\tx\n");
}

TEST_CASE("an invalid byte is replaced before escaping, not escaped away") {
  std::string out;
  copy_text::Row(out).value("\xFF\t").end();
  CHECK(out == kReplacement + "\\t\n");
}

TEST_CASE("timestamps are UTC with milliseconds, also before the epoch") {
  CHECK(copy_text::timestamp(0) == "1970-01-01 00:00:00.000+00");
  CHECK(copy_text::timestamp(1712345678901) == "2024-04-05 19:34:38.901+00");
  CHECK(copy_text::timestamp(-1) == "1969-12-31 23:59:59.999+00");
}
