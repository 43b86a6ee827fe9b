#include "store/copy_text.h"

#include <fmt/format.h>

#include <ctime>

namespace plugvisor::store::copy_text {

void Row::separate() {
  if (!first_) out_ += '\t';
  first_ = false;
}

Row& Row::value(std::string_view text) {
  separate();
  std::string& row = out_;
  for (const char c : plugvisor::valid_utf8(text)) {
    switch (c) {
      case '\0':
        break;
      case '\\':
        row += "\\\\";
        break;
      case '\t':
        row += "\\t";
        break;
      case '\n':
        row += "\\n";
        break;
      case '\r':
        row += "\\r";
        break;
      default:
        row += c;
    }
  }
  return *this;
}

Row& Row::null() {
  separate();
  out_ += "\\N";
  return *this;
}

std::string timestamp(int64_t unix_ms) {
  const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  int64_t millis = unix_ms % 1000;
  std::tm utc{};
  std::time_t whole = seconds;
  if (millis < 0) {  // before 1970: floor, not truncate
    millis += 1000;
    --whole;
  }
  gmtime_r(&whole, &utc);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}+00", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
}

}  // namespace plugvisor::store::copy_text
